// Shared plumbing for a system under test running in its own process: read the environment,
// announce the port, and report peak RSS when the driver asks it to stop.

export const env = {
  apiRoot: process.env.API_ROOT!,
  token: process.env.TOKEN!,
  secret: process.env.SECRET!,
};

export function ready(port: number): void {
  process.stdout.write(`ready ${port}\n`);
  // The driver asks for CPU time before and after the measured run: CPU per request, whatever the scheduling.
  process.on('SIGUSR2', () => {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`cpu ${user + system}\n`);
  });
  process.once('SIGTERM', () => {
    process.stdout.write(`rss ${process.resourceUsage().maxRSS * 1024}\n`);
    process.exit(0);
  });
}
