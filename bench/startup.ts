// Start-up times, measured only: `switchboard --help` to its exit, and `start` to the first 200
// on /readyz with the sandbox alone (no config, as `npm start`) and with ten platforms configured
// against the fakes of the test suite. From the sources through bin/switchboard.js (in this checkout
// compiled into node_modules/.cache/switchboard, see scripts/source-cache.js) and, when a build
// left dist/ behind, from the compiled dist/ too. The cases run interleaved, run by run.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { everyFake, everyPlatform, type EveryFake } from '../test/every-platform.js';
import { freePort } from '../test/redis.js';
import { spread, type Spread } from './row.js';

export interface StartupRow {
  name: string;
  ms: number[];
  /** The target for this row, in ms; undefined for reference rows. */
  targetMs?: number;
}

interface Case {
  name: string;
  targetMs?: number;
  command: string;
  args: string[];
  cwd: string;
  env?: Record<string, string>;
  /** Ready when the process exits with 0 (--help) or when /readyz first answers 200 on this port. */
  until: 'exit' | 'readyz';
}

const root = fileURLToPath(new URL('..', import.meta.url));
const distCli = join(root, 'dist/src/runtime/cli.js');

export const startupSummary = (row: StartupRow): Spread => spread(row.ms);

/** `quick` leaves out the reference rows and `npm start` (npm's own start-up on top of the node one). */
export async function startupRows(runs: number, quick = false): Promise<StartupRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-bench-start-'));
  const fakes = await startFakes();
  try {
    const ten = join(dir, 'ten.yaml');
    await writeFile(ten, tenPlatforms(fakes, dir));
    const fromDist = existsSync(distCli);
    // The installed package's path: dist's own cli (bin/switchboard.js picks the compiled sources in a checkout).
    if (fromDist) await writeFile(join(dir, 'dist-cli.mjs'), `const { main } = await import(${JSON.stringify(distCli)});\nprocess.exitCode = await main(process.argv.slice(2));\n`);
    const entries: [label: string, entry: string][] = [['source', join(root, 'bin/switchboard.js')], ...(fromDist ? ([['dist', join(dir, 'dist-cli.mjs')]] as [string, string][]) : [])];
    const references: Case[] = [
      { name: 'node -e 0 (reference)', command: process.execPath, args: ['-e', '0'], cwd: dir, until: 'exit' },
      { name: 'node --import tsx -e 0 (reference)', command: process.execPath, args: ['--import', 'tsx', '-e', '0'], cwd: root, until: 'exit' },
      { name: 'npm start (sandbox, no config) to /readyz', targetMs: 400, command: 'npm', args: ['start', '--silent'], cwd: root, until: 'readyz' },
    ];
    const cases: Case[] = [
      ...(quick ? [] : references),
      ...entries.flatMap(([label, entry]): Case[] => [
        { name: `switchboard --help (${label})`, targetMs: 150, command: process.execPath, args: [entry, '--help'], cwd: dir, until: 'exit' },
        { name: `switchboard start, sandbox, to /readyz (${label})`, targetMs: 400, command: process.execPath, args: [entry, 'start'], cwd: dir, until: 'readyz' },
        { name: `switchboard start, ten platforms, to /readyz (${label})`, targetMs: 800, command: process.execPath, args: [entry, 'start', '--config', ten], cwd: dir, until: 'readyz' },
      ]),
    ];
    const rows: StartupRow[] = cases.map((c) => ({ name: c.name, ms: [], targetMs: c.targetMs }));
    for (let run = 1; run <= runs; run++) {
      for (const [i, c] of cases.entries()) rows[i]!.ms.push(await time(c));
      console.error(`  start-up run ${run}/${runs} done`);
    }
    return rows;
  } finally {
    await Promise.all(Object.values(fakes).map((fake) => fake.stop().catch(() => undefined)));
    await rm(dir, { recursive: true, force: true });
  }
}

/** One start: spawn to exit or to the first 200 on /readyz, in ms; then the process (group) is stopped. */
async function time(c: Case): Promise<number> {
  const port = c.until === 'readyz' ? await freePort() : 0;
  // Its own process group, so stopping `npm start` stops the node it started too.
  const started = performance.now();
  const child = spawn(c.command, c.args, { cwd: c.cwd, env: { ...process.env, ...c.env, PORT: String(port), LOG_FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const failed = (why: string) => new Error(`${c.name}: ${why}\n${stderr}`);
  if (c.until === 'exit') {
    const code = await exited;
    if (code !== 0) throw failed(`exited with ${code}`);
    return performance.now() - started;
  }
  try {
    for (;;) {
      if (exitCode !== undefined) throw failed(`exited with ${exitCode} before /readyz answered 200`);
      if ((await status(port)) === 200) return performance.now() - started;
      if (performance.now() - started > 30_000) throw failed('no 200 on /readyz within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    await stopGroup(child.pid!, exited);
  }
}

async function stopGroup(pid: number, exited: Promise<unknown>): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-pid, name);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const killer = setTimeout(() => signal('SIGKILL'), 10_000);
  await exited;
  clearTimeout(killer);
  // npm may exit before the node it started: give the group's last member its signal too.
  signal('SIGKILL');
}

function status(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/readyz', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', () => resolve(0));
  });
}

async function startFakes(): Promise<EveryFake> {
  const fakes = everyFake();
  await Promise.all(Object.values(fakes).map((fake) => fake.start()));
  return fakes;
}

/** Every platform type once, Telegram twice (polling and webhook): ten, none reaching past 127.0.0.1. */
function tenPlatforms(fakes: EveryFake, dir: string): string {
  return [
    'store: { type: sqlite, path: ./ten.db }',
    'log: { level: warn }',
    'platforms:',
    ...everyPlatform(fakes, { apiKey: 'bench-api-key-0123456789', keyFile: join(dir, 'api-key.json') }),
    `  - { id: tghook, type: telegram, token: "${fakes.telegram.token}", apiRoot: "${fakes.telegram.url}", mode: webhook, secretToken: bench-secret }`,
    '',
  ].join('\n');
}
