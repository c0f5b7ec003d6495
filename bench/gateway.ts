// Gateway fan-in: a firehose of MESSAGE_CREATE dispatches, serialized before the clock starts, from
// the project's fake Discord into (a) Switchboard's Discord platform with a handler that does not
// reply and (b) a bare discord.js 14 Client with the same cache limits. Each run is a fresh child
// process; the systems alternate (a, b, a, b …) so a busy moment of the machine falls on both.
// A run: the fake gives the guild (GUILD_CREATE, so discord.js knows its channels), a warm-up,
// then the measured messages; msg/s is from the first measured frame sent to the last message
// reaching the handler, CPU per message is the child's own (process.cpuUsage) over that span.
//
// `node --import tsx bench/gateway.ts [--rounds 5] [--quick] [--messages N] [--only a|b] [--profile DIR] [--baseline DIR]`
// (--profile runs the children under --cpu-prof, writing into DIR; --baseline adds the (a) of another
// checkout, e.g. a worktree of the commit before a change, to the same interleaved rounds).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { FakeDiscord, guildCreate, token } from '../testing/fakes/discord.js';

export interface Range {
  median: number;
  min: number;
  max: number;
}

export interface GatewayRow {
  system: string;
  msgPerSec: Range;
  cpuUsPerMsg: Range;
}

interface Run {
  msgPerSec: number;
  cpuUsPerMsg: number;
}

interface System {
  name: string;
  file: string;
}

export const gatewaySystems = {
  switchboard: { name: '(a) Switchboard, Discord gateway, sqlite store', file: 'gateway-switchboard.ts' },
  discordjs: { name: '(b) discord.js 14 Client, same cache limits', file: 'gateway-discordjs.ts' },
} satisfies Record<string, System>;

const here = (file: string) => resolve(fileURLToPath(new URL('.', import.meta.url)), file);
const guildId = '400000000000000001';
const channels = 100;
const authors = 1000;

/**
 * The rows of the gateway bench, (a) then (b), each over `rounds` interleaved runs. `quick`: fewer
 * messages (10,000 after 2,000 of warm-up, instead of 50,000 after 5,000).
 */
export async function gatewayRows(options: {
  rounds: number;
  quick: boolean;
  messages?: number;
  only?: (keyof typeof gatewaySystems)[];
  profileDir?: string;
  /** Another checkout of Switchboard (with this bench) to run as a third system, interleaved: a before/after. */
  baseline?: string;
}): Promise<GatewayRow[]> {
  const messages = options.messages ?? (options.quick ? 10_000 : 50_000);
  const warmup = options.quick ? 2000 : 5000;
  const frames = firehose(warmup + messages);
  const systems: System[] = (options.only ?? (['switchboard', 'discordjs'] as const)).map((key) => gatewaySystems[key]);
  if (options.baseline) systems.push({ name: `(a) Switchboard at ${options.baseline}`, file: resolve(options.baseline, 'bench', gatewaySystems.switchboard.file) });
  const runs = new Map<System, Run[]>(systems.map((system) => [system, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (const system of systems) {
      const run = await measure(system, frames.slice(0, warmup), frames.slice(warmup), options.profileDir);
      runs.get(system)!.push(run);
      console.error(`  round ${round + 1}: ${system.name}: ${run.msgPerSec.toFixed(0)} msg/s, ${run.cpuUsPerMsg.toFixed(1)} µs CPU/msg`);
    }
  }
  return systems.map((system) => {
    const done = runs.get(system)!;
    return { system: system.name, msgPerSec: range(done.map((r) => r.msgPerSec)), cpuUsPerMsg: range(done.map((r) => r.cpuUsPerMsg)) };
  });
}

/** One run of one system in a fresh process, against a fresh fake. */
async function measure(system: System, warmup: readonly string[], measured: readonly string[], profileDir?: string): Promise<Run> {
  const fake = await new FakeDiscord().start();
  // Discord's interval: the fake's 1 s would have an ACK queued behind a second of firehose taken for a zombie connection.
  fake.gateway.heartbeatIntervalMs = 41_250;
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', here(system.file)], {
    env: { ...process.env, DISCORD_URL: fake.url, DISCORD_TOKEN: token, WARMUP: String(warmup.length), MESSAGES: String(measured.length) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${system.file} exited with ${code} before it was done`);
  });
  exited.catch(() => {});
  const next = async (expected: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      const line = await Promise.race([lines.next(), exited, deadline(120_000, system.file)]);
      if (line.done) throw new Error(`${system.file} closed its output`);
      const match = expected.exec(line.value);
      if (match) return match;
      console.error(`  ${system.file}: ${line.value}`); // a warning the system logged
    }
  };
  try {
    await waitUntil(() => fake.gateway.connected, 30_000, `${system.file} to connect`);
    fake.gateway.push('GUILD_CREATE', guildCreate({ id: guildId, channels: Array.from({ length: channels }, (_, i) => channelId(i)), memberCount: authors + 1 }));
    fake.gateway.firehose('MESSAGE_CREATE', warmup);
    await next(/^warm$/);
    const started = performance.now();
    fake.gateway.firehose('MESSAGE_CREATE', measured);
    const [, cpu] = await next(/^done (\d+)$/);
    const seconds = (performance.now() - started) / 1000;
    return { msgPerSec: measured.length / seconds, cpuUsPerMsg: Number(cpu) / measured.length };
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit').catch(() => {});
    await fake.stop();
  }
}

/** `count` MESSAGE_CREATE payloads as JSON text: plain text from many authors in many channels of one guild, as a busy server sends them. */
function firehose(count: number): string[] {
  const ids = new FakeDiscord();
  const payloads: string[] = [];
  const at = new Date().toISOString();
  for (let i = 0; i < count; i++) {
    const author = { id: String(200_000_000_000_000_000n + BigInt(i % authors)), username: `user${i % authors}`, discriminator: '0', global_name: null, avatar: null };
    payloads.push(
      JSON.stringify({
        id: ids.snowflake(),
        type: 0,
        channel_id: channelId(i % channels),
        guild_id: guildId,
        author,
        member: { roles: [], joined_at: at, deaf: false, mute: false, flags: 0 },
        content: `message ${i}: a line of chat as a busy server has thousands of`,
        timestamp: at,
        edited_timestamp: null,
        tts: false,
        mention_everyone: false,
        mentions: [],
        mention_roles: [],
        attachments: [],
        embeds: [],
        pinned: false,
        flags: 0,
      }),
    );
  }
  return payloads;
}

function channelId(index: number): string {
  return String(300_000_000_000_000_000n + BigInt(index));
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

function deadline(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms / 1000} s`)), ms).unref());
}

/** The rows as a table, and (a)'s share of (b)'s throughput. */
export function printGatewayRows(rows: GatewayRow[]): void {
  const fmt = (r: Range, digits: number) => `${r.median.toFixed(digits)} (${r.min.toFixed(digits)}–${r.max.toFixed(digits)})`;
  console.log(`${'system'.padEnd(48)} ${'msg/s median (min–max)'.padStart(26)} ${'CPU µs/msg median (min–max)'.padStart(30)}`);
  for (const row of rows) console.log(`${row.system.padEnd(48)} ${fmt(row.msgPerSec, 0).padStart(26)} ${fmt(row.cpuUsPerMsg, 1).padStart(30)}`);
  const a = rows.find((r) => r.system === gatewaySystems.switchboard.name);
  const b = rows.find((r) => r.system === gatewaySystems.discordjs.name);
  if (a && b) {
    const ratio = a.msgPerSec.median / b.msgPerSec.median;
    console.log(`gateway a/b = ${ratio.toFixed(2)}, target >= 0.9: ${ratio >= 0.9 ? 'met' : 'not met'}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, quick: { type: 'boolean', default: false }, messages: { type: 'string' }, only: { type: 'string' }, profile: { type: 'string' }, baseline: { type: 'string' } } });
  const only = values.only === undefined ? undefined : values.only === 'a' ? (['switchboard'] as const) : (['discordjs'] as const);
  const rows = await gatewayRows({ rounds: Number(values.rounds), quick: values.quick, messages: values.messages === undefined ? undefined : Number(values.messages), only: only && [...only], profileDir: values.profile, baseline: values.baseline });
  printGatewayRows(rows);
}
