// Inbound verify + dedup: pre-built, correctly signed webhook requests of each platform
// (./inbound-requests.ts) POSTed into Switchboard configured with that platform alone, a handler
// that counts and never replies, beside the ceiling: bare node:http reading the body and answering
// 200. Each run is a fresh process (and a fresh SQLite store), the systems interleaved in rounds.
// msg/s: measured requests accepted (2xx) per second, from the first measured POST to the last
// answer or the last message reaching the handler, whichever is later; CPU per message is the
// child's own (process.cpuUsage) over that span; latency is each POST's answer.
//
// `node --import tsx bench/inbound.ts [--rounds 5] [--quick] [--requests N] [--only tg,qq,…] [--profile DIR]`

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { everyFake } from '../test/every-platform.js';
import { spawnChild } from './child-lines.js';
import { percentile } from './driver.js';
import { inboundPlatforms, type InboundPlatform, type Prebuilt } from './inbound-requests.js';
import { benchFile } from './launch.js';
import type { Row, RowOptions, Sample } from './row.js';
import { tableHeader, tableLine } from './table.js';

export interface InboundOptions extends RowOptions {
  requests?: number;
  concurrency?: number;
  /** Platform keys (tg, qq, lark, wecom, vk, tim, api) to run; all by default. */
  only?: string[];
  profileDir?: string;
}

interface System {
  name: string;
  file: string;
  platform: InboundPlatform;
}

export const inboundLimitName = '(limit) node:http, read the body, answer 200';

/** The ceiling row first, then one row per platform, each over `rounds` interleaved runs. */
export async function inboundRows(options: InboundOptions): Promise<Row[]> {
  const requests = options.requests ?? (options.quick ? 200 : 10_000);
  const warmup = options.quick ? 50 : 1000;
  const concurrency = options.concurrency ?? 32;
  const fakes = everyFake();
  const { discord: _unused, ...used } = fakes;
  await Promise.all(Object.values(used).map((fake) => fake.start()));
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-inbound-'));
  try {
    const platforms = inboundPlatforms(fakes, join(dir, 'api-key.json')).filter((p) => !options.only || options.only.includes(p.key));
    const systems: System[] = [
      { name: inboundLimitName, file: 'inbound-limit.ts', platform: platforms[0]! },
      ...platforms.map((platform) => ({ name: `(a) Switchboard, ${platform.name}`, file: 'inbound-switchboard.ts', platform })),
    ];
    const rows = systems.map((system): Row => ({ name: system.name, samples: [] }));
    for (let round = 0; round < options.rounds; round++) {
      for (const [i, system] of systems.entries()) {
        const sample = await measure(system, await system.platform.build(warmup + requests), warmup, concurrency, options.profileDir);
        rows[i]!.samples.push(sample);
        console.error(`  round ${round + 1}: ${system.name}: ${sample.rps.toFixed(0)} msg/s, ${sample.cpuMicrosPerMessage.toFixed(1)} µs CPU/msg, ${sample.errors} errors`);
      }
    }
    return rows;
  } finally {
    await Promise.all(Object.values(used).map((fake) => fake.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

/** One run of one system in a fresh process: the warm-up, then the measured requests. */
async function measure(system: System, all: Prebuilt[], warmup: number, concurrency: number, profileDir?: string): Promise<Sample> {
  const measured = all.slice(warmup);
  const child = spawnChild(benchFile(system.file), { PLATFORM: system.platform.config, WARMUP: String(warmup), MESSAGES: String(measured.length) }, profileDir);
  try {
    const [, port] = await child.next(/^ready (\d+)$/);
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
    try {
      const warm = await post(pool, all.slice(0, warmup), concurrency);
      if (warm.errors > 0) throw new Error(`${system.name}: ${warm.errors} of ${warmup} warm-up requests failed (${warm.firstError})`);
      await child.next(/^warm$/);
      const started = performance.now();
      const load = await post(pool, measured, concurrency);
      // A request that failed never reaches the handler: the count would never be complete.
      // gateway-sut.ts also reports the collector's share, which only the gateway table shows.
      const cpu = load.errors > 0 ? Number.NaN : Number((await child.next(/^done (\d+)(?: \d+ \d+)?$/))[1]);
      const seconds = (performance.now() - started) / 1000;
      if (load.errors > 0) console.error(`  ${system.name}: ${load.errors} requests failed (${load.firstError})`);
      const sorted = load.latenciesMs.sort((x, y) => x - y);
      return { requests: measured.length, errors: load.errors, seconds, rps: (measured.length - load.errors) / seconds, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), cpuMicrosPerMessage: cpu / measured.length, rssBytes: Number.NaN };
    } finally {
      await pool.close();
    }
  } finally {
    await child.stop();
  }
}

interface Load {
  errors: number;
  firstError?: string;
  latenciesMs: number[];
}

/** POSTs the requests with `concurrency` in flight; a request fails on an error or an answer that is not 2xx. */
async function post(pool: Pool, requests: readonly Prebuilt[], concurrency: number): Promise<Load> {
  const load: Load = { errors: 0, latenciesMs: [] };
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const { path, headers, body } = requests[next++]!;
      const begun = performance.now();
      try {
        const res = await pool.request({ path, method: 'POST', headers, body });
        const text = await res.body.text();
        if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
        load.latenciesMs.push(performance.now() - begun);
      } catch (error) {
        load.errors++;
        load.firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return load;
}

/** The rows as a table, each platform's msg/s also a share of the ceiling's, round by round. */
export function printInboundRows(rows: Row[]): void {
  const limit = rows.find((r) => r.name === inboundLimitName);
  console.log(tableHeader);
  for (const row of rows) console.log(tableLine(row, limit));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, quick: { type: 'boolean', default: false }, requests: { type: 'string' }, only: { type: 'string' }, profile: { type: 'string' } } });
  const rows = await inboundRows({ rounds: Number(values.rounds), quick: values.quick, requests: values.requests === undefined ? undefined : Number(values.requests), only: values.only?.split(','), profileDir: values.profile });
  printInboundRows(rows);
}
