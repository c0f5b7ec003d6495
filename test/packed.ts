// The package as a bot author gets it: `npm pack` (which builds dist/ in prepack) and an install
// of the tarball into a folder outside the repository, with no network.
//
// `npm install <tgz> --offline` cannot resolve switchboard's dependency ranges from the cache,
// which `npm ci` filled with tarballs only (no registry metadata); the repository's lockfile
// pins the very versions it holds, so the folder gets that lock, rooted at the tarball, and
// `npm ci --offline`. Install scripts are skipped: the only one that builds something compiles
// better-sqlite3 from source (minutes on two cores, its prebuilt binary being out of reach
// offline); the binary the repository's own install built, same version and Node, is put where
// that build would put it.

import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const root = join(import.meta.dirname, '..');

interface LockEntry {
  version?: string;
  dev?: boolean;
  [key: string]: unknown;
}

/** Packs the repository into a new temporary folder outside it; returns the tarball's path. */
export async function pack(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-pack-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string }[];
  return join(dir, packed!.filename);
}

/**
 * Installs the tarball into `dir` for the project described by `manifest` (its package.json;
 * its `switchboard` dependency becomes the tarball, as `npm install <tgz>` would make it).
 */
export async function installPacked(dir: string, tarball: string, manifest: Record<string, unknown> = {}): Promise<void> {
  const spec = `file:${tarball}`;
  const dependencies = { ...(manifest.dependencies as Record<string, string> | undefined), switchboard: spec };
  const devDependencies = (manifest.devDependencies as Record<string, string> | undefined) ?? {};
  const project = { name: 'bot-project', private: true, type: 'module', ...manifest, dependencies };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(project, null, 2));
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(lockFor(project.name as string, dependencies, devDependencies, spec), null, 2));
  await run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
  const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
  mkdirSync(dirname(join(dir, addon)), { recursive: true });
  copyFileSync(join(root, addon), join(dir, addon));
}

function lockFor(name: string, dependencies: Record<string, string>, devDependencies: Record<string, string>, spec: string) {
  const repoLock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const own = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const packages: Record<string, unknown> = {
    '': { name, dependencies, devDependencies },
    'node_modules/switchboard': { version: own.version, resolved: spec, license: own.license, dependencies: own.dependencies, bin: own.bin, engines: own.engines },
  };
  // Everything switchboard needs at run time is in the repository's lock, hoisted the same way;
  // so are the new project's dev dependencies (tsx, typescript, @types/node), the repository's own.
  for (const [path, entry] of Object.entries(repoLock.packages)) if (path !== '' && !entry.dev) packages[path] = entry;
  const add = (dep: string) => {
    const path = `node_modules/${dep}`;
    if (packages[path]) return;
    const entry = repoLock.packages[path];
    if (!entry) throw new Error(`${dep} is not in the repository's lock; the offline install cannot have it`);
    const { dev: _dev, ...rest } = entry;
    packages[path] = rest;
    for (const next of Object.keys((entry.dependencies as Record<string, string> | undefined) ?? {})) add(next);
  };
  for (const dep of Object.keys(devDependencies)) add(dep);
  return { name, lockfileVersion: 3, requires: true, packages };
}
