// What a system under the gateway bench shares: the fake's address from the environment (Discord's
// or QQ's), and a count of messages that reached the handler. The process reports on stdout: "warm" once the
// warm-up messages have all arrived, then "done <CPU µs>" once the measured ones have, with the
// CPU the process used in between (its own accounting: every thread, GC included).

export const gatewayEnv = {
  apiRoot: process.env.DISCORD_URL!,
  token: process.env.DISCORD_TOKEN!,
  qq: { url: process.env.QQ_URL!, appId: process.env.QQ_APP_ID!, appSecret: process.env.QQ_APP_SECRET! },
  warmup: Number(process.env.WARMUP),
  messages: Number(process.env.MESSAGES),
};

let seen = 0;
let cpuAtWarm: NodeJS.CpuUsage | undefined;

/** Called by the handler for every message it gets. */
export function reached(): void {
  seen++;
  if (seen === gatewayEnv.warmup) {
    cpuAtWarm = process.cpuUsage();
    process.stdout.write('warm\n');
  } else if (seen === gatewayEnv.warmup + gatewayEnv.messages) {
    const { user, system } = process.cpuUsage(cpuAtWarm);
    process.stdout.write(`done ${user + system}\n`);
  }
}

process.once('SIGTERM', () => process.exit(0));
