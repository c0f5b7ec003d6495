// A CommonJS package's bundle run in the package's place (src/runtime/cjs-bundle.ts), against
// packages made up in a temporary folder: what the bundle sees of itself, which instance others
// get, and what becomes of its code cache.

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBundle } from '../src/runtime/cjs-bundle.js';

const fixture = fileURLToPath(new URL('./fixtures/run-bundle.ts', import.meta.url));

let dir: string;
let vendor: URL;
let require: NodeJS.Require;

/** A package in node_modules: package.json and its main file. */
async function pkg(name: string, version: string, main: string): Promise<string> {
  const at = join(dir, 'node_modules', name);
  await mkdir(at, { recursive: true });
  await writeFile(join(at, 'package.json'), JSON.stringify({ name, version, main: 'index.js' }));
  await writeFile(join(at, 'index.js'), main);
  return join(at, 'index.js');
}

/** The vendor folder: a bundle per package, and the manifest. */
async function bundles(entries: Record<string, { source: string; version: string }>): Promise<void> {
  const manifest: Record<string, unknown> = {};
  for (const [name, { source, version }] of Object.entries(entries)) {
    const file = `${name.replace(/\//g, '-')}.TEST.cjs`;
    await writeFile(new URL(file, vendor), source);
    manifest[name] = { file, version, ascii: true };
  }
  await writeFile(new URL('manifest.json', vendor), JSON.stringify(manifest));
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sb-cjs-bundle-'));
  vendor = pathToFileURL(join(dir, 'vendor') + '/');
  await mkdir(vendor, { recursive: true });
  await writeFile(join(dir, 'package.json'), '{"name":"app"}');
  require = createRequire(join(dir, 'package.json'));
});

afterEach(async () => {
  for (const key of Object.keys(require.cache)) if (key.startsWith(dir)) delete require.cache[key];
  await rm(dir, { recursive: true, force: true });
});

describe('a package run from its bundle', () => {
  it('runs the bundle, not the package, as the package main file: its __dirname, and its instance for whoever requires it next', async () => {
    const entry = await pkg('sdk', '1.2.3', 'module.exports = { from: "package" };');
    await bundles({ sdk: { version: '1.2.3', source: 'module.exports = { from: "bundle", dirname: __dirname, filename: __filename };' } });
    const bundled = runBundle('sdk', vendor, require)!;
    expect(bundled.exports).toEqual({ from: 'bundle', dirname: join(dir, 'node_modules/sdk'), filename: entry });
    expect(require('sdk')).toBe(bundled.exports);
    expect(runBundle('sdk', vendor, require)).toEqual({ exports: bundled.exports, codeCache: 'loaded already' });
  });

  it('writes a code cache after the first run, and the next process uses it; a damaged one is written again', async () => {
    await pkg('sdk', '1.0.0', 'module.exports = {};');
    await bundles({ sdk: { version: '1.0.0', source: `module.exports = { sum: [1, 2, 3].reduce((a, b) => a + b) };\n${'function unused() { return 1; }\n'.repeat(200)}` } });
    const cache = new URL('sdk.TEST.cjs.v8cache', vendor);
    const run = async () => JSON.parse((await promisify(execFile)(process.execPath, ['--import', 'tsx', fixture, dir, vendor.href, 'sdk'])).stdout) as unknown;
    expect(await run()).toEqual({ exports: { sum: 6 }, codeCache: 'written' });
    expect(existsSync(cache)).toBe(true);
    expect(await run()).toEqual({ exports: { sum: 6 }, codeCache: 'used' });
    await writeFile(cache, Buffer.alloc(4096, 7));
    expect(await run()).toEqual({ exports: { sum: 6 }, codeCache: 'rejected, written again' });
    expect((await readFile(cache)).equals(Buffer.alloc(4096, 7))).toBe(false);
    expect(await run()).toEqual({ exports: { sum: 6 }, codeCache: 'used' });
  }, 30_000);

  it('runs the bundle all the same when its code cache cannot be written', async () => {
    await pkg('sdk', '1.0.0', 'module.exports = {};');
    await bundles({ sdk: { version: '1.0.0', source: 'module.exports = { from: "bundle" };' } });
    // A folder where the cache file would go: neither read nor replaced.
    await mkdir(new URL('sdk.TEST.cjs.v8cache/inside', vendor), { recursive: true });
    expect(runBundle('sdk', vendor, require)).toEqual({ exports: { from: 'bundle' }, codeCache: 'not written' });
  });

  it('a package the bundle requires runs from its own bundle, as the one instance everyone gets', async () => {
    await pkg('sdk', '1.0.0', 'module.exports = {};');
    await pkg('shared', '2.0.0', 'module.exports = { from: "package" };');
    await bundles({
      sdk: { version: '1.0.0', source: 'module.exports = { shared: require("shared"), path: require("node:path").sep };' },
      shared: { version: '2.0.0', source: 'module.exports = { from: "bundle" };' },
    });
    const sdk = runBundle('sdk', vendor, require)!.exports as { shared: unknown; path: string };
    expect(sdk).toEqual({ shared: { from: 'bundle' }, path: '/' });
    expect(require('shared')).toBe(sdk.shared);
  });

  it('leaves the package to load as it ships when the bundle is of another version, or there is no bundle of it', async () => {
    await pkg('sdk', '1.0.1', 'module.exports = { from: "package" };');
    await pkg('other', '1.0.0', 'module.exports = {};');
    await bundles({ sdk: { version: '1.0.0', source: 'module.exports = { from: "bundle" };' } });
    expect(runBundle('sdk', vendor, require)).toBeUndefined();
    expect(runBundle('other', vendor, require)).toBeUndefined();
    expect(runBundle('sdk', pathToFileURL(join(dir, 'no-vendor') + '/'), require)).toBeUndefined();
  });

  it('leaves a package that is being loaded meanwhile to require (the ES loader enters a module in the cache before it runs it)', async () => {
    const entry = await pkg('sdk', '1.0.0', 'module.exports = { from: "package" };');
    await bundles({ sdk: { version: '1.0.0', source: 'module.exports = { from: "bundle" };' } });
    const loading = new Module(entry);
    loading.filename = entry;
    require.cache[entry] = loading;
    expect(runBundle('sdk', vendor, require)).toBeUndefined();
    loading.exports = { from: 'package' };
    loading.loaded = true;
    expect(runBundle('sdk', vendor, require)).toEqual({ exports: { from: 'package' }, codeCache: 'loaded already' });
  });

  it('a bundle that throws is not left in require cache: the next require tries again', async () => {
    await pkg('sdk', '1.0.0', 'module.exports = { from: "package" };');
    await bundles({ sdk: { version: '1.0.0', source: 'throw new Error("broken at load");' } });
    expect(() => runBundle('sdk', vendor, require)).toThrow('broken at load');
    expect(require('sdk')).toEqual({ from: 'package' });
  });
});
