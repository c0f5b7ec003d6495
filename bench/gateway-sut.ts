// What a system under the gateway (and inbound) bench shares: the fake's address from the
// environment (Discord's or QQ's), and a count of messages that reached the handler. The process
// reports on stdout: "warm" once the warm-up messages have all arrived, then
// "done <CPU µs> <GC µs> <promoted bytes>" once the measured ones have: the CPU the process used in
// between (its own accounting: every thread, GC included), the part of it V8's collector took, and
// the bytes young-generation collections moved to the old generation (objects that outlived two of
// them; see README.md, "Gateway fan-in").

import { GCProfiler, type GCProfilerResult } from 'node:v8';

export const gatewayEnv = {
  apiRoot: process.env.DISCORD_URL!,
  token: process.env.DISCORD_TOKEN!,
  qq: { url: process.env.QQ_URL!, appId: process.env.QQ_APP_ID!, appSecret: process.env.QQ_APP_SECRET! },
  warmup: Number(process.env.WARMUP),
  messages: Number(process.env.MESSAGES),
};

let seen = 0;
let cpuAtWarm: NodeJS.CpuUsage | undefined;
let gc: GCProfiler | undefined;

/** Called by the handler for every message it gets. */
export function reached(): void {
  seen++;
  if (seen === gatewayEnv.warmup) {
    cpuAtWarm = process.cpuUsage();
    gc = new GCProfiler();
    gc.start();
    process.stdout.write('warm\n');
  } else if (seen === gatewayEnv.warmup + gatewayEnv.messages) {
    const { user, system } = process.cpuUsage(cpuAtWarm);
    const { micros, promoted } = collected(gc!);
    process.stdout.write(`done ${user + system} ${micros} ${promoted}\n`);
  }
}

/** What the collector took over the profile (µs, as GCProfiler counts) and what scavenges promoted (bytes). */
function collected(profiler: GCProfiler): { micros: number; promoted: number } {
  let micros = 0;
  let promoted = 0;
  const oldSpace = (stats: GCStats) => stats.heapSpaceStatistics.find((space) => space.spaceName === 'old_space')?.spaceUsedSize ?? 0;
  for (const entry of profiler.stop()?.statistics ?? []) {
    micros += entry.cost;
    if (entry.gcType === 'Scavenge') promoted += Math.max(0, oldSpace(entry.afterGC) - oldSpace(entry.beforeGC));
  }
  return { micros: Math.round(micros), promoted };
}

type GCStats = GCProfilerResult['statistics'][number]['afterGC'];

process.once('SIGTERM', () => process.exit(0));
