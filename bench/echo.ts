// The echo rows: Telegram webhook updates POSTed by the driver, each system in a fresh process per
// run, its replies read at the fake Bot API. Systems compared with each other run interleaved in
// rounds (A, B, C, A, B, C, …) so a slow minute of a shared machine lands on all of them alike.

import { dropPrefix, redisUrl, requireRedis } from '../test/redis.js';
import { Driver, percentile } from './driver.js';
import { startFakeApi, type FakeApi } from './fake-api.js';
import { launch } from './launch.js';
import type { Row, Sample } from './row.js';

export interface System {
  name: string;
  /** A bench/sut-*.ts file. */
  file: string;
  env?: Record<string, string>;
  /** Processes sharing the load round-robin (on the Redis store they share one key prefix). */
  instances?: number;
  /** A load of its own (a slow handler's rows need fewer requests to be measured as well). */
  load?: Partial<EchoLoad>;
  /** Runs beside the load once the processes are up (a client of theirs, in this process); its result is called when the run ends. */
  alongside?: (targets: string[]) => Promise<() => void>;
}

export interface EchoLoad {
  requests: number;
  warmup: number;
  concurrency: number;
}

export const token = '123456:BENCH-token';
export const secret = 'bench-secret';

export class EchoBench {
  private prefixes = 0;

  private constructor(
    private readonly load: EchoLoad,
    private readonly driver: Driver,
    private readonly api: FakeApi,
  ) {}

  static async start(load: EchoLoad): Promise<EchoBench> {
    const driver = new Driver();
    return new EchoBench(load, driver, await startFakeApi(token, driver.onReply));
  }

  /** One run: fresh processes, a warm-up, then the measured window with the processes' own CPU time around it. */
  async measure(system: System): Promise<Sample> {
    const prefix = `bench:${process.pid}:${++this.prefixes}:`;
    const env: Record<string, string> = { API_ROOT: this.api.url, TOKEN: token, SECRET: secret, ...system.env };
    if (env.STORE === 'redis') Object.assign(env, { REDIS_URL: redisUrl, REDIS_PREFIX: prefix });
    const suts = await Promise.all(Array.from({ length: system.instances ?? 1 }, () => launch(system.file, env)));
    try {
      const targets = suts.map((sut) => `http://127.0.0.1:${sut.port}`);
      if (targets.length > 1) await sharedOut(targets);
      const done = await system.alongside?.(targets);
      const cpu = async () => (await Promise.all(suts.map((sut) => sut.cpu()))).reduce((x, y) => x + y, 0);
      const { requests, warmup, concurrency } = { ...this.load, ...system.load };
      await this.driver.run(targets, secret, warmup, concurrency);
      const cpuBefore = await cpu();
      const result = await this.driver.run(targets, secret, requests, concurrency);
      const cpuMicros = (await cpu()) - cpuBefore;
      const latencies = result.latenciesMs.sort((x, y) => x - y);
      done?.();
      const rssBytes = (await Promise.all(suts.splice(0).map((sut) => sut.stop()))).reduce((x, y) => x + y, 0);
      return {
        requests,
        errors: result.errors,
        seconds: result.seconds,
        rps: (requests - result.errors) / result.seconds,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        cpuMicrosPerMessage: cpuMicros / requests,
        rssBytes,
      };
    } finally {
      await Promise.all(suts.map((sut) => sut.stop()));
      if (env.STORE === 'redis') await dropPrefix(prefix);
    }
  }

  /** `rounds` rounds of every system in the given order, one sample each per round. */
  async rounds(systems: readonly System[], rounds: number): Promise<Row[]> {
    const rows = systems.map((system) => ({ name: system.name, samples: [] as Sample[] }));
    for (let round = 1; round <= rounds; round++) {
      for (const [i, system] of systems.entries()) {
        const sample = await this.measure(system);
        rows[i]!.samples.push(sample);
        console.error(`  round ${round}/${rounds}  ${system.name}: ${sample.rps.toFixed(0)} req/s${sample.errors ? `, ${sample.errors} errors` : ''}`);
      }
    }
    return rows;
  }

  /** A single run, for rows compared only with the medians (log levels, callback stages). */
  async once(system: System): Promise<Row> {
    return (await this.rounds([system], 1))[0]!;
  }

  close(): Promise<void> {
    return this.api.close();
  }
}

export const redisAnswers = (): Promise<boolean> => requireRedis().then(() => true, () => false);

/**
 * Waits until the instances share the work queue partitions evenly (/healthz `work.partitions`):
 * the first to start holds them all until the others have announced themselves.
 */
async function sharedOut(targets: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = await Promise.all(targets.map(async (target) => ((await (await fetch(`${target}/healthz`)).json()) as { work?: { partitions: string[] } }).work?.partitions.length ?? 0));
    const total = held.reduce((x, y) => x + y, 0);
    if (total > 0 && held.every((n) => n <= Math.ceil(total / targets.length) && n >= Math.floor(total / targets.length))) return;
    if (Date.now() > deadline) throw new Error(`the instances did not share the partitions out within ${timeoutMs} ms: ${held.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
