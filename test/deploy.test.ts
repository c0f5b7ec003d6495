// The Dockerfile and compose.yaml in the repo root, checked as far as can be done without a Docker
// daemon: what they copy exists and is not ignored, what they run is the package's own entry
// point, the ports agree, and the healthcheck's path answers 200 from the CLI started with the
// image's config.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/runtime/config.js';
import { definitions } from '../src/runtime/registry.js';
import { waitFor } from './helpers.js';

const root = join(import.meta.dirname, '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions with their line continuations joined; comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\n\s*/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op, ...rest] = line.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

/** The instructions of the last stage: what the image that runs is made of. */
function finalStage(all: Instruction[]): Instruction[] {
  const from = all.map((i) => i.op).lastIndexOf('FROM');
  return all.slice(from);
}

const execForm = (args: string): string[] => JSON.parse(args) as string[];

function dockerignored(path: string): boolean {
  const patterns = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  return patterns.some((p) => path === p || path.startsWith(`${p}/`) || (p.startsWith('*') && path.endsWith(p.slice(1))));
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).map((f) => posix.join(dir, f.split('\\').join('/'))).filter((f) => statSync(join(root, f)).isFile());
}

const dockerfile = instructions(read('Dockerfile'));
const image = finalStage(dockerfile);
const workdir = image.find((i) => i.op === 'WORKDIR')!.args;
const cmd = execForm(image.find((i) => i.op === 'CMD')!.args);
const configInImage = cmd[cmd.indexOf('--config') + 1]!;
const compose = parse(read('compose.yaml')) as { services: Record<string, { build: string; ports: string[]; volumes: string[]; stop_grace_period: string }> };
const service = Object.values(compose.services)[0]!;

describe('Dockerfile', () => {
  it('copies only files that exist in the repo and that .dockerignore lets through', () => {
    const copies = image.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const source of sources) {
        expect(existsSync(join(root, source)), `COPY ${source}`).toBe(true);
        expect(dockerignored(source), `${source} is in .dockerignore`).toBe(false);
      }
    }
    // The dependency stage copies the lockfile npm ci needs.
    const deps = dockerfile.slice(0, dockerfile.map((i) => i.op).lastIndexOf('FROM'));
    expect(deps.find((i) => i.op === 'COPY')?.args).toBe('package.json package-lock.json ./');
    expect(deps.find((i) => i.op === 'RUN')?.args).toBe('npm ci --omit=dev');
  });

  it('copies every script the compile step (RUN node scripts/source-build.js) imports, and the check every start runs', () => {
    const copied = new Set(image.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1)));
    const needed = new Set<string>();
    const visit = (script: string) => {
      if (needed.has(script)) return;
      needed.add(script);
      // Static imports, and the dynamic ones a build loads (import('./bundle.js')).
      for (const [, path, dynamic] of read(script).matchAll(/^import [^;]*from '(\.\/[^']+)'|import\('(\.\/[^']+)'\)/gm)) visit(posix.join(posix.dirname(script), (path ?? dynamic)!));
    };
    expect(image.some((i) => i.op === 'RUN' && i.args === 'node scripts/source-build.js')).toBe(true);
    visit('scripts/source-build.js');
    expect(needed).toContain('scripts/source-cache.js');
    expect(needed.size).toBeGreaterThan(2);
    for (const script of needed) expect(copied, script).toContain(script);
  });

  it('runs the package\'s own CLI, as a user other than root, with a config that is in the image', () => {
    const pkg = JSON.parse(read('package.json')) as { bin: { switchboard: string }; scripts: Record<string, string> };
    expect(cmd.slice(0, 3)).toEqual(['node', pkg.bin.switchboard, 'start']);
    expect(pkg.scripts.start).toBe(`node ${pkg.bin.switchboard} start`);
    const copied = image.filter((i) => i.op === 'COPY').flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(copied).toContain(pkg.bin.switchboard.split('/')[0]);
    expect(copied).toContain(configInImage);
    const user = image.findLast((i) => i.op === 'USER')?.args;
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(image.findIndex((i) => i.op === 'USER')).toBeLessThan(image.findIndex((i) => i.op === 'CMD'));
  });

  it('installs every package the runtime imports: npm ci --omit=dev leaves out devDependencies', () => {
    const pkg = JSON.parse(read('package.json')) as { name: string; dependencies: Record<string, string>; allowScripts: Record<string, boolean> };
    const imported = new Set<string>();
    for (const file of ['bin', 'scripts', 'src', 'adapters', 'bots'].flatMap(filesUnder).filter((f) => /\.(ts|js)$/.test(f))) {
      const text = read(file);
      for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^;]*?from\s+'([^']+)'|import\('([^']+)'\)/gm)) {
        const spec = m[1] ?? m[2]!;
        if (spec.startsWith('.') || spec.startsWith('node:')) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    imported.delete(pkg.name);
    expect(imported.size).toBeGreaterThan(10);
    for (const name of imported) expect(pkg.dependencies, `${name} is imported at run time`).toHaveProperty(name);
    // npm 11 runs a dependency's install script only when allowScripts lets it; better-sqlite3's fetches or builds its binary.
    expect(pkg.allowScripts['better-sqlite3']).toBe(true);
  });
});

describe('the ports and paths the image, compose.yaml and the config share', () => {
  it('exposes and publishes the port the config listens on; the store and config paths are the mounted ones', async () => {
    const config = await loadConfig(join(root, 'deploy/switchboard.yaml'), { definitions, env: {} });
    const exposed = Number(image.find((i) => i.op === 'EXPOSE')!.args);
    expect(config.server.port).toBe(exposed);
    expect(config.server.host).toBe('0.0.0.0');
    expect(service.ports.map((p) => Number(p.split(':').at(-1)))).toEqual([exposed]);
    const healthcheck = image.find((i) => i.op === 'HEALTHCHECK')!.args;
    expect(new URL(/http:\/\/[^'"]+/.exec(healthcheck)![0]).port).toBe(String(exposed));

    const volume = image.find((i) => i.op === 'VOLUME')!.args;
    expect(config.store.type === 'sqlite' && posix.dirname(config.store.path)).toBe(volume);
    expect(service.volumes.map((v) => v.split(':')[1])).toEqual([posix.join(workdir, configInImage), volume]);
    expect(service.volumes[0]!.split(':')[0]).toBe(`./${configInImage}`);
    expect(service.build).toBe('.');
    // docker stop waits stop_grace_period, then SIGKILLs: the graceful shutdown must fit in it.
    expect(Number.parseInt(service.stop_grace_period, 10) * 1000).toBeGreaterThan(config.server.shutdownTimeout);
  });

  it('the healthcheck, run against the CLI started with the image\'s config, exits 0', async () => {
    const data = await mkdtemp(join(tmpdir(), 'sb-deploy-'));
    const child = spawn(process.execPath, [join(root, cmd[1]!), ...cmd.slice(2)], {
      cwd: root,
      env: { ...process.env, PORT: '0', SWITCHBOARD_DB: join(data, 'switchboard.db') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const port = await waitFor(() => /"url":"http:\/\/0\.0\.0\.0:(\d+)","platforms"/.exec(output)?.[1], 15_000, 'the started line');
      const check = execForm(image.find((i) => i.op === 'HEALTHCHECK')!.args.replace(/^.*?CMD\s+/, '')).map((a) => a.replace(':3000/', `:${port}/`));
      expect(check[0]).toBe('node');
      const probe = spawn(process.execPath, check.slice(1), { stdio: 'ignore' });
      expect(await new Promise((resolve) => probe.once('exit', resolve))).toBe(0);
      expect(existsSync(join(data, 'switchboard.db'))).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(output).toContain('switchboard stopped');
  }, 30_000);
});
