// Start-up times, measured only: `switchboard --help` to its exit, and `start` to the first 200
// on /readyz with the sandbox alone (no config, as `npm start`) and with ten platforms configured
// against the fakes of the test suite. From the sources through bin/switchboard.js (in this checkout
// compiled into node_modules/.cache/switchboard, see scripts/source-cache.js), and from the
// JavaScript that ships, built afresh for the bench as `npm run build` builds dist/ (the .d.ts files
// left out) and started as an installed package starts it. Each case starts once unmeasured (the
// first start of a build writes its code caches), then the cases run interleaved, run by run.

import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
/**
 * Where the bench lays the package out as npm installs it (package.json beside dist/): inside the
 * repository, so its modules find node_modules; `import 'switchboard'` (the built-in bots) is the
 * package's self-reference, resolved by that package.json.
 */
const shippedDir = join(root, 'node_modules/.cache/switchboard-bench-package');

export const startupSummary = (row: StartupRow): Spread => spread(row.ms);

/** `quick` leaves out the reference rows and `npm start` (npm's own start-up on top of the node one). */
export async function startupRows(runs: number, quick = false): Promise<StartupRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-bench-start-'));
  const fakes = await startFakes();
  try {
    const ten = join(dir, 'ten.yaml');
    await writeFile(ten, tenPlatforms(fakes, dir));
    await buildShipped();
    // The installed package's path: dist's own cli (bin/switchboard.js picks the compiled sources in a checkout).
    await writeFile(join(dir, 'dist-cli.mjs'), `const { main } = await import(${JSON.stringify(join(shippedDir, 'dist/src/runtime/cli.js'))});\nprocess.exitCode = await main(process.argv.slice(2));\n`);
    const entries: [label: string, entry: string][] = [
      ['source', join(root, 'bin/switchboard.js')],
      ['dist', join(dir, 'dist-cli.mjs')],
    ];
    const npmFloor = join(dir, 'npm-floor');
    await mkdir(npmFloor);
    await writeFile(join(npmFloor, 'package.json'), JSON.stringify({ name: 'npm-floor', private: true, scripts: { start: 'node -e 0' } }));
    const references: Case[] = [
      { name: 'node -e 0 (reference)', command: process.execPath, args: ['-e', '0'], cwd: dir, until: 'exit' },
      { name: 'node --import tsx -e 0 (reference)', command: process.execPath, args: ['--import', 'tsx', '-e', '0'], cwd: root, until: 'exit' },
      // npm's own share of `npm start`: the same npm command in a project whose start script is only `node -e 0`.
      { name: 'npm start of `node -e 0` (reference: npm on top of node)', command: 'npm', args: ['start', '--silent'], cwd: npmFloor, until: 'exit' },
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
    for (const c of cases) await time(c);
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

/** scripts/build.js's JavaScript, as `npm run build` makes it, into shippedDir/dist beside the package.json. */
async function buildShipped(): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [join(root, 'scripts/build.js'), '--out', join(shippedDir, 'dist'), '--no-types'], { cwd: root }, (error, _stdout, stderr) => (error ? reject(new Error(`scripts/build.js failed: ${stderr}`)) : resolve())),
  );
  await copyFile(join(root, 'package.json'), join(shippedDir, 'package.json'));
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
