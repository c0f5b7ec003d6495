// Shared plumbing for a system under test running in its own process: read the environment,
// announce the port, and report peak RSS when the driver asks it to stop.

import { existsSync, statSync } from 'node:fs';

export const env = {
  apiRoot: process.env.API_ROOT!,
  token: process.env.TOKEN!,
  secret: process.env.SECRET!,
};

/** `files`: the on-disk files whose size the soak reports beside the memory (a database and its WAL). */
export function ready(port: number, files: readonly string[] = []): void {
  // The driver asks for CPU time before and after the measured run: CPU per request, whatever the scheduling.
  process.on('SIGUSR2', () => {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`cpu ${user + system}\n`);
    // Under --expose-gc (the soak) also the memory left after a full collection; never in the timed rows.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) return;
    gc();
    const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
    const onDisk = files.reduce((sum, file) => sum + (existsSync(file) ? statSync(file).size : 0), 0);
    process.stdout.write(`mem ${rss} ${heapUsed} ${heapTotal} ${external} ${arrayBuffers} ${onDisk}\n`);
  });
  process.once('SIGTERM', () => {
    process.stdout.write(`rss ${process.resourceUsage().maxRSS * 1024}\n`);
    process.exit(0);
  });
  // Only now: the driver may signal the moment it reads this line, before another line here would run.
  process.stdout.write(`ready ${port}\n`);
}
