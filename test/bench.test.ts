// `npm run bench -- --quick`, the way an operator runs it: every system of the table answers every
// request, the table and verdict lines have their shape, and the start-up rows have a time each.
// The figures themselves are not asserted (a smoke run on a shared machine measures noise), but
// the median (min–max) and round-by-round ratio arithmetic the verdicts rest on is, below.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Row, Sample } from '../bench/row.js';
import { ratio, spread } from '../bench/row.js';
import type { SoakResult } from '../bench/soak.js';
import type { StartupRow } from '../bench/startup.js';
import type { StreamResult } from '../bench/stream.js';
import { formatSpread, verdict } from '../bench/table.js';
import { requireRedis } from './redis.js';

const root = join(import.meta.dirname, '..');
const systems = [
  '(a) Switchboard (sqlite store, the default)',
  '(b) node-telegram-bot-api 2 + koa, as shipped',
  '(b′) node-telegram-bot-api 2 + koa, undici client',
  '(c) grammY webhookCallback + koa',
  '(limit) node:http + undici Pool, by hand',
  '(limit) the same + the SQLite writes of (a)',
  '(limit) the same + SQLite, behind koa + router',
  '(a) Switchboard, memory store',
  '(a) Switchboard, sqlite sync: full',
  '(a) Switchboard, console open and subscribed',
  '(e) Switchboard, redis store, 1 instance',
  '(e) Switchboard, redis store, 2 instances',
  '(e) Switchboard, redis store, 1 instance, CPU-bound handler',
  '(e) Switchboard, redis store, 2 instances, CPU-bound handler',
];

const inbound = [
  '(limit) node:http, read the body, answer 200',
  '(a) Switchboard, Telegram, secret header',
  '(a) Switchboard, QQ, Ed25519 signature',
  '(a) Switchboard, Lark, signature + AES',
  '(a) Switchboard, WeCom, signature + AES',
  '(a) Switchboard, VK, secret',
  '(a) Switchboard, Tencent IM, sign',
  '(a) Switchboard, HTTP endpoint, API key',
];

let dir = '';
let stdout = '';
let stderr = '';
let exitCode: number | null = null;
let report: { load: { requests: number }; rounds: number; rows: Row[]; extra: Row[]; startup: StartupRow[]; streamed: StreamResult };

beforeAll(async () => {
  await requireRedis();
  dir = await mkdtemp(join(tmpdir(), 'sb-bench-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--json', join(dir, 'bench.json')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  exitCode = await new Promise((resolve) => child.once('exit', resolve));
  if (exitCode === 0) report = JSON.parse(await readFile(join(dir, 'bench.json'), 'utf8')) as typeof report;
}, 170_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm run bench -- --quick', () => {
  it('exits 0', () => {
    expect(exitCode, `${stdout}\n${stderr}`).toBe(0);
  });

  it('measures every system once per round, and every system answered every request', () => {
    expect(report.rows.map((r) => r.name)).toEqual(systems);
    for (const row of report.rows) {
      expect(row.samples, row.name).toHaveLength(report.rounds);
      for (const sample of row.samples) {
        expect({ name: row.name, requests: sample.requests, errors: sample.errors }).toEqual({ name: row.name, requests: report.load.requests, errors: 0 });
        expect(sample.rps, row.name).toBeGreaterThan(0);
        expect(sample.p99Ms, row.name).toBeGreaterThanOrEqual(sample.p50Ms);
        expect(sample.cpuMicrosPerMessage, row.name).toBeGreaterThan(0);
      }
    }
  });

  it('prints one table line per system: msg/s, share of the limit, latency, CPU per message, RSS, errors', () => {
    expect(stdout).toMatch(/^system +msg\/s +of limit +p50 ms +p99 ms +CPU µs\/msg +RSS MB +errors$/m);
    for (const name of systems) {
      const line = stdout.split('\n').find((l) => l.startsWith(name));
      expect(line, name).toBeDefined();
      expect(line!.slice(name.length).trim().split(/ +/), name).toEqual([expect.stringMatching(/^\d+$/), expect.stringMatching(/^\d+\.\d\d$/), expect.stringMatching(/^\d+\.\d$/), expect.stringMatching(/^\d+\.\d$/), expect.stringMatching(/^\d+$/), expect.stringMatching(/^\d+$/), '0']);
    }
    expect(stdout.split('\n').find((l) => l.startsWith('(limit)'))!.split(/ +/)).toContain('1.00');
  });

  it('posts signed requests of every webhook platform beside bare node:http: each one accepted, each platform a share of the ceiling', () => {
    expect(report.extra.map((r) => r.name)).toEqual(inbound);
    for (const row of report.extra) {
      expect(row.samples, row.name).toHaveLength(report.rounds);
      for (const sample of row.samples) {
        expect({ name: row.name, requests: sample.requests, errors: sample.errors }).toEqual({ name: row.name, requests: 200, errors: 0 });
        expect(sample.rps, row.name).toBeGreaterThan(0);
        expect(sample.cpuMicrosPerMessage, row.name).toBeGreaterThan(0);
      }
    }
    const table = stdout.slice(stdout.indexOf('Inbound verify + dedup per platform'));
    for (const name of inbound) expect(table.split('\n').find((l) => l.startsWith(name))!.slice(name.length).trim().split(/ +/)[1], name).toMatch(/^\d\.\d\d$/);
  });

  it('says whether each target is met', () => {
    expect(stdout).toMatch(/^a\/b′ \(same undici client\) = \d+\.\d\d, target >= 1\.15: (met|not met)$/m);
    expect(stdout).toMatch(/^a\/c \(grammY \+ koa\) = \d+\.\d\d, target >= 1\.3: (met|not met)$/m);
    expect(stdout).toMatch(/^a\/limit = \d+\.\d\d, target >= 0\.6: (met|not met)$/m);
    expect(stdout).toMatch(/^console open\/a \(.*\) = \d+\.\d\d(?: \(\d+\.\d\d–\d+\.\d\d\))?, target >= 0\.95: (met|not met); CPU per message \d+\.\d\d[^;]*; the console's buffer holds at most /m);
    expect(stdout).toMatch(/^CPU per message, .*: a\/b′ = \d+\.\d\d, a\/c = \d+\.\d\d, a\/limit = \d+\.\d\d /m);
    expect(stdout).toMatch(/^Where a's share of the limit goes, msg\/s: the SQLite writes alone take the limit to \d+\.\d\d of itself \(koa \+ router in front would take it to \d+\.\d\d; a's webhooks are served without them\); a is \d+\.\d\d of the SQLite row /m);
    expect(stdout).toMatch(/^redis, 2 instances \/ 1 instance, CPU-bound handler .* = \d+\.\d\d, target >= 1\.3: (met|not met)$/m);
    expect(stdout).toMatch(/^For reference, not a verdict: the plain echo, 2 instances \/ 1 instance = \d+\.\d\d/m);
    expect(stdout).toMatch(/^\(b\) discord\.js 14 Client, same cache limits +\d+ \(\d+–\d+\) +\d+\.\d \(/m);
    expect(stdout).toMatch(/^gateway a\/b = \d+\.\d\d, target >= 0\.9: (met|not met)$/m);
    expect(stdout).toMatch(/^\(a\) Switchboard, Discord gateway, sqlite store +\d+ \(\d+–\d+\) +\d+\.\d \(\d+\.\d–\d+\.\d\) +\d+\.\d \(\d+\.\d–\d+\.\d\) +\d+ \(\d+–\d+\)$/m);
    expect(stdout).toMatch(/^\(a\) Switchboard, Discord gateway, memory store +\d+ \(\d+–\d+\) +\d+\.\d \(/m);
    expect(stdout).toMatch(/^the sqlite store: -?\d+\.\d µs CPU an event \(sqlite row − memory row, medians\)$/m);
    expect(stdout).toMatch(/^\(a\) Switchboard, QQ gateway, sqlite store +\d+ \(\d+–\d+\) +\d+\.\d \(/m);
    expect(stdout).toMatch(/^\(limit\) bare ws client, QQ frames parsed +\d+ \(\d+–\d+\) +\d+\.\d \(/m);
    expect(stdout).toMatch(/^QQ gateway: Switchboard's msg\/s = \d+\.\d\d of Switchboard's Discord row, \d+\.\d\d of the bare ws ceiling \(medians\)$/m);
  });

  it('streams one reply into a Telegram group: the calls Telegram got are within what a group allows, not one per chunk', () => {
    expect(stdout).toMatch(/^Streaming: one 200-token reply into a Telegram group at 200 tokens\/s, over \d+\.\d s:$/m);
    expect(stdout).toMatch(/^ {2}Telegram API calls \d+ \(sendMessage 1, editMessageText \d+\); a group allows \d+ in that time \(burst 3, then 20\/min\): within$/m);
    expect(stdout).toMatch(/^ {2}CPU \d+\.\d µs per chunk; the producer's timers alone \d+\.\d µs/m);
    expect(report.streamed.total).toBeLessThanOrEqual(report.streamed.allowed);
    expect(report.streamed.total).toBeLessThan(report.streamed.tokens / 10);
    expect(report.streamed.cpuMicrosPerChunk).toBeGreaterThan(0);
  });

  it('times --help, the sandbox start and a ten-platform start, each against its target', () => {
    const names = report.startup.map((r) => r.name);
    // From the sources, and from the JavaScript that ships (built by the bench as npm run build builds dist/).
    const cases = ['switchboard --help', 'switchboard start, sandbox, to /readyz', 'switchboard start, ten platforms, to /readyz'];
    expect(names).toEqual(expect.arrayContaining(['source', 'dist'].flatMap((from) => cases.map((c) => `${c} (${from})`))));
    for (const row of report.startup) {
      expect(row.ms, row.name).toHaveLength(1);
      expect(row.ms[0], row.name).toBeGreaterThan(0);
      expect(stdout).toMatch(new RegExp(`^${row.name.replace(/[()/]/g, '\\$&')} +\\d+ ms +target < \\d+ ms: (met|not met)$`, 'm'));
    }
  });
});

describe('npm run bench -- --soak, at a tiny scale', () => {
  it('reads the memory after a GC at each checkpoint, every message answered, and says whether each target is met', async () => {
    const out = await mkdtemp(join(tmpdir(), 'sb-soak-'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--soak', '--soak-checkpoints', '1000,2000,3000', '--soak-limits', '--json', join(out, 'soak.json')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let printed = '';
      child.stdout.on('data', (d: Buffer) => (printed += d.toString()));
      child.stderr.on('data', (d: Buffer) => (printed += d.toString()));
      expect(await new Promise((resolve) => child.once('exit', resolve)), printed).toBe(0);
      const { soak } = JSON.parse(await readFile(join(out, 'soak.json'), 'utf8')) as { soak: SoakResult };
      expect(soak.points.map((p) => [p.messages, p.errors])).toEqual([[1000, 0], [2000, 0], [3000, 0]]);
      for (const p of soak.points) {
        expect(p.heapUsed).toBeGreaterThan(0);
        expect(p.rss).toBeGreaterThan(p.heapUsed);
        expect(p.disk).toBeGreaterThan(0); // the SQLite store's files
      }
      expect(soak.rssGrowth).toBeCloseTo(soak.points[2]!.rss / soak.points[0]!.rss, 6);
      expect(printed).toMatch(/^ +3000 +\d+ +\d+\.\d +\d+\.\d +\d+\.\d +\d+\.\d +\d+\.\d +0$/m);
      expect(printed).toMatch(/^heapUsed after 1000: from [−+]\d+\.\d% to \+\d+\.\d%, target ±10%: (met|not met)$/m);
      expect(soak.heapDrift).toBe(Math.max(-soak.heapRange.low, soak.heapRange.high));
      expect(printed).toMatch(/^RSS\(3000\) \/ RSS\(1000\) = \d+\.\d\d, target <= 1\.1: (met|not met)$/m);
      // The soak runs alone: none of the bench's other rows.
      expect(printed).not.toMatch(/^system +msg\/s/m);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 20_000);
});

describe('the arithmetic behind the verdicts', () => {
  const sample = (rps: number): Sample => ({ requests: 1, errors: 0, seconds: 1, rps, p50Ms: 1, p99Ms: 2, cpuMicrosPerMessage: 1, rssBytes: 1 });
  const row = (name: string, rps: number[]): Row => ({ name, samples: rps.map(sample) });

  it('a median is the middle value, or the mean of the two middle ones', () => {
    expect(spread([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5 });
    expect(spread([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4 });
  });

  it('rows of the same rounds are divided round by round, so a slow round slows both sides', () => {
    // Round 2 ran while the machine was busy: both systems lost half their speed in it.
    const a = row('a', [1200, 600, 1100]);
    const c = row('c', [1000, 500, 1000]);
    expect(ratio(a, c)).toEqual({ median: 1.2, min: 1.1, max: 1.2 });
    expect(formatSpread(ratio(a, c), 2)).toBe('1.20 (1.10–1.20)');
    expect(verdict('a/c', ratio(a, c), 1.3)).toBe('a/c = 1.20 (1.10–1.20), target >= 1.3: not met');
    expect(verdict('a/c', ratio(a, c), 1.2)).toBe('a/c = 1.20 (1.10–1.20), target >= 1.2: met');
  });

  it('a row measured once is compared with the medians, its range left unknown', () => {
    const once = row('once', [900]);
    const limit = row('limit', [1000, 3000, 2000]);
    expect(formatSpread(ratio(once, limit), 2)).toBe('0.45');
  });
});
