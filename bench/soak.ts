// The soak (`npm run bench -- --soak`): one Switchboard process ((a): sqlite store, log level warn,
// bots/echo.ts) takes a long run of Telegram webhook messages, each from a chat and a user it has
// never seen, and at each checkpoint reports its memory after a forced full GC (it runs with
// --expose-gc and answers the same SIGUSR2 the CPU figure uses). Every per-chat or per-user
// structure must have a bound, so after the first checkpoint the live heap stays flat and RSS
// stops growing. Never part of the normal bench or the tests' quick run: 1M messages take minutes.

import { Driver } from './driver.js';
import { secret, token } from './echo.js';
import { startFakeApi } from './fake-api.js';
import { launch, type MemorySample } from './launch.js';

export interface SoakOptions {
  /** Message counts at which memory is read, ascending; the last one is the run's length. */
  checkpoints: readonly number[];
  concurrency: number;
  /** Per-chat pacing and a per-user limit on, so the pacer's buckets and the limit's windows fill too. */
  limits?: boolean;
}

export interface SoakPoint extends MemorySample {
  messages: number;
  errors: number;
  /** Answered messages per second since the previous checkpoint. */
  rps: number;
}

export interface SoakResult {
  /** Memory right after start-up, before the first message. */
  start: MemorySample;
  points: SoakPoint[];
  /** The largest |heapUsed / heapUsed(first checkpoint) − 1| over the later checkpoints. */
  heapDrift: number;
  /** The same, signed: the lowest and the highest heapUsed / heapUsed(first) − 1 (a fall is no leak, but it is not flat either). */
  heapRange: { low: number; high: number };
  /** RSS at the last checkpoint over RSS at the first. */
  rssGrowth: number;
}

export const soakTargets = { heapDrift: 0.1, rssGrowth: 1.1 };

/** 100k, 500k, 1M for a million: a tenth, a half, all. */
export function soakCheckpoints(messages: number): number[] {
  return [...new Set([Math.max(1, Math.round(messages / 10)), Math.max(1, Math.round(messages / 2)), messages])];
}

export async function soak(options: SoakOptions): Promise<SoakResult> {
  const driver = new Driver();
  const api = await startFakeApi(token, driver.onReply);
  const sut = await launch('sut-switchboard.ts', { API_ROOT: api.url, TOKEN: token, SECRET: secret, ...(options.limits ? { LIMITS: '1' } : {}) }, ['--expose-gc']);
  try {
    const target = `http://127.0.0.1:${sut.port}`;
    const start = await sut.memory();
    const points: SoakPoint[] = [];
    let done = 0;
    for (const checkpoint of options.checkpoints) {
      const result = await driver.run(target, secret, checkpoint - done, options.concurrency, true);
      done = checkpoint;
      const point = { messages: checkpoint, errors: result.errors, rps: (result.requests - result.errors) / result.seconds, ...(await sut.memory()) };
      points.push(point);
      console.error(`  soak ${soakLine(point)}`);
    }
    const first = points[0]!;
    const last = points[points.length - 1]!;
    const changes = points.slice(1).map((p) => p.heapUsed / first.heapUsed - 1);
    const heapRange = { low: Math.min(0, ...changes), high: Math.max(0, ...changes) };
    return { start, points, heapDrift: Math.max(-heapRange.low, heapRange.high), heapRange, rssGrowth: last.rss / first.rss };
  } finally {
    await sut.stop();
    await api.close();
  }
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

export const soakHeader = `${'messages'.padStart(10)} ${'msg/s'.padStart(7)} ${'RSS MB'.padStart(8)} ${'heapUsed MB'.padStart(12)} ${'heapTotal MB'.padStart(13)} ${'external MB'.padStart(12)} ${'sqlite files MB'.padStart(16)} ${'errors'.padStart(7)}`;

export function soakLine(p: SoakPoint): string {
  return `${String(p.messages).padStart(10)} ${p.rps.toFixed(0).padStart(7)} ${mb(p.rss).padStart(8)} ${mb(p.heapUsed).padStart(12)} ${mb(p.heapTotal).padStart(13)} ${mb(p.external).padStart(12)} ${mb(p.disk).padStart(16)} ${String(p.errors).padStart(7)}`;
}

export function printSoak(result: SoakResult, limits = false): void {
  const { start, points } = result;
  const paced = limits ? ', per-chat pacing (1/s, burst 3) and a per-user limit (20/min) on' : '';
  console.log(`Soak: (a) Switchboard, sqlite store, log level warn${paced}; every message from a new chat and a new user; memory after a forced full GC:`);
  console.log(soakHeader);
  console.log(`${'start'.padStart(10)} ${'–'.padStart(7)} ${mb(start.rss).padStart(8)} ${mb(start.heapUsed).padStart(12)} ${mb(start.heapTotal).padStart(13)} ${mb(start.external).padStart(12)} ${mb(start.disk).padStart(16)} ${'–'.padStart(7)}`);
  for (const p of points) console.log(soakLine(p));
  const first = points[0]!.messages;
  const last = points[points.length - 1]!.messages;
  const percent = (x: number) => `${x < 0 ? '−' : '+'}${Math.abs(x * 100).toFixed(1)}%`;
  console.log(`heapUsed after ${first}: from ${percent(result.heapRange.low)} to ${percent(result.heapRange.high)}, target ±${soakTargets.heapDrift * 100}%: ${result.heapDrift <= soakTargets.heapDrift ? 'met' : 'not met'}`);
  console.log(`RSS(${last}) / RSS(${first}) = ${result.rssGrowth.toFixed(2)}, target <= ${soakTargets.rssGrowth}: ${result.rssGrowth <= soakTargets.rssGrowth ? 'met' : 'not met'}`);
}
