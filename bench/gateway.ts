// Gateway fan-in: a firehose of dispatches, serialized before the clock starts (./gateway-feeds.ts),
// from the project's fake gateways into systems whose handler does not reply. Discord: (a)
// Switchboard's Discord platform and (b) a bare discord.js 14 Client with the same cache limits.
// QQ (no standard SDK to compare with): Switchboard's QQ platform in websocket mode, and the
// ceiling, a bare `ws` client that identifies and JSON.parses every frame. Each run is a fresh
// child process against a fresh fake; the systems alternate round by round so a busy moment of
// the machine falls on all of them. A run: the fake primes (Discord: GUILD_CREATE, so discord.js
// knows its channels), a warm-up, then the measured messages; msg/s is from the first measured
// frame sent to the last message reaching the handler, CPU per message is the child's own
// (process.cpuUsage) over that span.
//
// `node --import tsx bench/gateway.ts [--rounds 5] [--quick] [--messages N] [--only a|b|switchboard,switchboardMemory,discordjs,qq,qqws] [--profile DIR] [--baseline DIR [--baseline-system qq]]`
// (--profile runs the children under --cpu-prof, writing into DIR; --baseline adds the (a) of another
// checkout, e.g. a worktree of the commit before a change, to the same interleaved rounds: its
// Discord (a), or the one --baseline-system names).

import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnChild } from './child-lines.js';
import { discordFeed, qqFeed, type Feed, type Frame } from './gateway-feeds.js';

export interface Range {
  median: number;
  min: number;
  max: number;
}

export interface GatewayRow {
  system: string;
  msgPerSec: Range;
  cpuUsPerMsg: Range;
  /** Of that CPU, what V8's collector took; undefined for a baseline checkout whose bench did not report it. */
  gcUsPerMsg?: Range;
  /** Bytes a message left to the old generation (young collections' promotions). */
  promotedPerMsg?: Range;
}

interface Run {
  msgPerSec: number;
  cpuUsPerMsg: number;
  gcUsPerMsg?: number;
  promotedPerMsg?: number;
}

interface System {
  name: string;
  file: string;
  feed: Feed;
  env?: Record<string, string>;
}

export const gatewaySystems = {
  switchboard: { name: '(a) Switchboard, Discord gateway, sqlite store', file: 'gateway-switchboard.ts', feed: discordFeed },
  // What the sqlite store costs an event (the session's sequence, a dedup key where an event ends out of order): the same row with nothing written to disk.
  switchboardMemory: { name: '(a) Switchboard, Discord gateway, memory store', file: 'gateway-switchboard.ts', feed: discordFeed, env: { STORE: 'memory' } },
  discordjs: { name: '(b) discord.js 14 Client, same cache limits', file: 'gateway-discordjs.ts', feed: discordFeed },
  qq: { name: '(a) Switchboard, QQ gateway, sqlite store', file: 'gateway-qq-switchboard.ts', feed: qqFeed },
  qqws: { name: '(limit) bare ws client, QQ frames parsed', file: 'gateway-qq-ws.ts', feed: qqFeed },
} satisfies Record<string, System>;

export type GatewaySystem = keyof typeof gatewaySystems;

const here = (file: string) => resolve(fileURLToPath(new URL('.', import.meta.url)), file);

/**
 * The rows of the gateway bench, in the order of `gatewaySystems`, each over `rounds` interleaved
 * runs. `quick`: fewer messages (10,000 after 2,000 of warm-up, instead of 50,000 after 5,000).
 */
export async function gatewayRows(options: {
  rounds: number;
  quick: boolean;
  messages?: number;
  only?: GatewaySystem[];
  profileDir?: string;
  /** Another checkout of Switchboard (with this bench) to run as one more system, interleaved: a before/after. */
  baseline?: string;
  /** Which of its systems: the Discord one unless told. */
  baselineSystem?: GatewaySystem;
}): Promise<GatewayRow[]> {
  const messages = options.messages ?? (options.quick ? 10_000 : 50_000);
  const warmup = options.quick ? 2000 : 5000;
  const systems: System[] = (options.only ?? (Object.keys(gatewaySystems) as GatewaySystem[])).map((key) => gatewaySystems[key]);
  if (options.baseline) {
    const base = gatewaySystems[options.baselineSystem ?? 'switchboard'];
    systems.push({ name: `${base.name} at ${options.baseline}`, file: resolve(options.baseline, 'bench', base.file), feed: base.feed });
  }
  const firehoses = new Map<Feed, Frame[]>();
  for (const { feed } of systems) if (!firehoses.has(feed)) firehoses.set(feed, feed.frames(warmup + messages));
  const runs = new Map<System, Run[]>(systems.map((system) => [system, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (const system of systems) {
      const frames = firehoses.get(system.feed)!;
      const run = await measure(system, frames.slice(0, warmup), frames.slice(warmup), options.profileDir);
      runs.get(system)!.push(run);
      const gc = run.gcUsPerMsg === undefined ? '' : `, of it GC ${run.gcUsPerMsg.toFixed(1)} µs, ${run.promotedPerMsg!.toFixed(0)} B promoted/msg`;
      console.error(`  round ${round + 1}: ${system.name}: ${run.msgPerSec.toFixed(0)} msg/s, ${run.cpuUsPerMsg.toFixed(1)} µs CPU/msg${gc}`);
    }
  }
  return systems.map((system) => {
    const done = runs.get(system)!;
    const reported = (of: (run: Run) => number | undefined) => (done.every((r) => of(r) !== undefined) ? range(done.map((r) => of(r)!)) : undefined);
    return { system: system.name, msgPerSec: range(done.map((r) => r.msgPerSec)), cpuUsPerMsg: range(done.map((r) => r.cpuUsPerMsg)), gcUsPerMsg: reported((r) => r.gcUsPerMsg), promotedPerMsg: reported((r) => r.promotedPerMsg) };
  });
}

/** One run of one system in a fresh process, against a fresh fake. */
async function measure(system: System, warmup: readonly Frame[], measured: readonly Frame[], profileDir?: string): Promise<Run> {
  const fake = await system.feed.open();
  const child = spawnChild(system.file.startsWith('/') ? system.file : here(system.file), { ...fake.env, ...system.env, WARMUP: String(warmup.length), MESSAGES: String(measured.length) }, profileDir);
  try {
    await waitUntil(() => fake.connected(), 30_000, `${system.file} to connect`);
    fake.prime();
    fake.firehose(warmup);
    await child.next(/^warm$/);
    const started = performance.now();
    fake.firehose(measured);
    // A baseline checkout's bench may report the CPU alone.
    const [, cpu, gc, promoted] = await child.next(/^done (\d+)(?: (\d+) (\d+))?$/);
    const seconds = (performance.now() - started) / 1000;
    const perMessage = (value: string | undefined) => (value === undefined ? undefined : Number(value) / measured.length);
    return { msgPerSec: measured.length / seconds, cpuUsPerMsg: Number(cpu) / measured.length, gcUsPerMsg: perMessage(gc), promotedPerMsg: perMessage(promoted) };
  } finally {
    await child.stop();
    await fake.stop();
  }
}

function range(values: number[]): Range {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

async function waitUntil(probe: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The rows as a table, (a)'s share of (b)'s throughput, and the QQ row against the Discord one and its ceiling. */
export function printGatewayRows(rows: GatewayRow[]): void {
  const fmt = (r: Range, digits: number) => `${r.median.toFixed(digits)} (${r.min.toFixed(digits)}–${r.max.toFixed(digits)})`;
  const optional = (r: Range | undefined, digits: number) => (r ? fmt(r, digits) : '–');
  console.log(`${'system'.padEnd(48)} ${'msg/s median (min–max)'.padStart(26)} ${'CPU µs/msg median (min–max)'.padStart(30)} ${'of it GC µs/msg'.padStart(22)} ${'promoted B/msg'.padStart(22)}`);
  for (const row of rows) console.log(`${row.system.padEnd(48)} ${fmt(row.msgPerSec, 0).padStart(26)} ${fmt(row.cpuUsPerMsg, 1).padStart(30)} ${optional(row.gcUsPerMsg, 1).padStart(22)} ${optional(row.promotedPerMsg, 0).padStart(22)}`);
  const a = rows.find((r) => r.system === gatewaySystems.switchboard.name);
  const b = rows.find((r) => r.system === gatewaySystems.discordjs.name);
  if (a && b) {
    const ratio = a.msgPerSec.median / b.msgPerSec.median;
    console.log(`gateway a/b = ${ratio.toFixed(2)}, target >= 0.9: ${ratio >= 0.9 ? 'met' : 'not met'}`);
  }
  const memory = rows.find((r) => r.system === gatewaySystems.switchboardMemory.name);
  if (a && memory) console.log(`the sqlite store: ${(a.cpuUsPerMsg.median - memory.cpuUsPerMsg.median).toFixed(1)} µs CPU an event (sqlite row − memory row, medians)`);
  const qq = rows.find((r) => r.system === gatewaySystems.qq.name);
  const ws = rows.find((r) => r.system === gatewaySystems.qqws.name);
  if (qq && (a || ws)) {
    const share = (of: GatewayRow | undefined, what: string) => (of ? `${(qq.msgPerSec.median / of.msgPerSec.median).toFixed(2)} of ${what}` : undefined);
    console.log(`QQ gateway: Switchboard's msg/s = ${[share(a, "Switchboard's Discord row"), share(ws, 'the bare ws ceiling')].filter(Boolean).join(', ')} (medians)`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, quick: { type: 'boolean', default: false }, messages: { type: 'string' }, only: { type: 'string' }, profile: { type: 'string' }, baseline: { type: 'string' }, 'baseline-system': { type: 'string' } } });
  const aliases: Record<string, GatewaySystem> = { a: 'switchboard', b: 'discordjs' };
  const system = (key: string, option: string) => {
    const name = aliases[key] ?? key;
    if (!(name in gatewaySystems)) throw new Error(`${option}: no system "${key}" (a, b, ${Object.keys(gatewaySystems).join(', ')})`);
    return name as GatewaySystem;
  };
  const only = values.only?.split(',').map((key) => system(key, '--only'));
  const baselineSystem = values['baseline-system'] === undefined ? undefined : system(values['baseline-system'], '--baseline-system');
  const rows = await gatewayRows({ rounds: Number(values.rounds), quick: values.quick, messages: values.messages === undefined ? undefined : Number(values.messages), only, profileDir: values.profile, baseline: values.baseline, baselineSystem });
  printGatewayRows(rows);
}
