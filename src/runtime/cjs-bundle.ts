// Runs a CommonJS package's bundle (scripts/cjs-bundles.js) in place of the package as it ships,
// with a V8 code cache: what Node 22's module.enableCompileCache() does for every module, and Node
// 20 lacks.
//
// The bundle runs as the package's main module would: `__filename` and `__dirname` are the main
// file's (the Lark SDK reads its version from ../package.json), and so is its `require`, which runs
// the bundle of a package it requires when there is one. It is entered in require's cache under
// that file, so whatever requires or imports the package afterwards gets this very instance. The
// code cache is written after the bundle ran, so it holds the functions its start compiled too, and
// written again when V8 rejects it (another node, other V8 flags); where the folder is read-only,
// the bundle runs without one.

import { accessSync, constants, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

/** What became of the code cache when a bundle ran; 'loaded already' when it did not run, the package being loaded before. */
export type CodeCache = 'used' | 'written' | 'rejected, written again' | 'not written' | 'loaded already';

export interface Bundled {
  exports: unknown;
  codeCache: CodeCache;
}

/** scripts/cjs-bundles.js's manifest: each package bundled (as required), its bundle's file name, the version bundled. */
type Manifest = Readonly<Record<string, { file: string; version: string; ascii: boolean }>>;

type Wrapper = (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;

const manifests = new Map<string, Manifest | undefined>();

/**
 * The package `specifier` (resolved by `require`) run from its bundle in `vendorDir`, or from
 * require's cache when it was loaded already; undefined when the folder has no bundle of it, or one
 * of another version than the package installed, or when the package is being loaded meanwhile.
 */
export function runBundle(specifier: string, vendorDir: URL, require: NodeJS.Require): Bundled | undefined {
  const bundle = manifest(vendorDir)?.[specifier];
  if (bundle === undefined) return undefined;
  const entry = require.resolve(specifier);
  const cached = require.cache[entry];
  // Not loaded yet: in a require cycle, or entered by the ES loader before it runs the module (an
  // import of the package's ES wrapper is under way). require() knows what to do with either.
  if (cached) return cached.loaded ? { exports: cached.exports, codeCache: 'loaded already' } : undefined;
  if (installedVersion(entry, packageName(specifier)) !== bundle.version) return undefined;
  const path = fileURLToPath(new URL(bundle.file, vendorDir));
  const cachePath = `${path}.v8cache`;
  const cachedData = readIfThere(cachePath);
  // The wrapper on a line of its own (lineOffset: -1): the bundle's lines and columns stay its source map's.
  const source = readFileSync(path, bundle.ascii ? 'latin1' : 'utf8');
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {\n${source}\n})`, {
    filename: path,
    lineOffset: -1,
    cachedData,
    // discord.js imports an optional package (zlib-sync) with import(): from here, as the package would.
    importModuleDynamically: ((specifier: string) => import(specifier)) as never,
  });
  const module = new Module(entry);
  module.filename = entry;
  module.paths = (Module as unknown as { _nodeModulePaths(from: string): string[] })._nodeModulePaths(dirname(entry));
  require.cache[entry] = module;
  try {
    (script.runInThisContext() as Wrapper)(module.exports, bundleRequire(entry, vendorDir), module, entry, dirname(entry));
  } catch (error) {
    delete require.cache[entry];
    throw error;
  }
  module.loaded = true;
  if (cachedData && !script.cachedDataRejected) return { exports: module.exports, codeCache: 'used' };
  // A folder this process cannot write (an installed package, an image's): no cache made for nothing at every start.
  const written = writable(dirname(path)) && writeWhole(cachePath, script.createCachedData());
  return { exports: module.exports, codeCache: !written ? 'not written' : cachedData ? 'rejected, written again' : 'written' };
}

/** `require` from the package's main file, which runs a required package's own bundle when it has one. */
function bundleRequire(entry: string, vendorDir: URL): NodeJS.Require {
  const plain = createRequire(entry);
  const require = ((id: string) => runBundle(id, vendorDir, plain)?.exports ?? plain(id)) as NodeJS.Require;
  return Object.assign(require, { resolve: plain.resolve, cache: plain.cache, main: plain.main, extensions: plain.extensions });
}

function manifest(vendorDir: URL): Manifest | undefined {
  if (!manifests.has(vendorDir.href)) {
    const text = readIfThere(fileURLToPath(new URL('manifest.json', vendorDir)));
    manifests.set(vendorDir.href, text ? (JSON.parse(text.toString('utf8')) as Manifest) : undefined);
  }
  return manifests.get(vendorDir.href);
}

/** The package a specifier names: discord-api-types for discord-api-types/v10. */
const packageName = (specifier: string): string => /^(?:@[^/]+\/)?[^/]+/.exec(specifier)![0];

/** The version in the package.json of `name` above its main file (discord.js's exports map hides that file from require). */
function installedVersion(entry: string, name: string): string | undefined {
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const text = readIfThere(join(dir, 'package.json'));
    if (!text) continue;
    const pkg = JSON.parse(text.toString('utf8')) as { name?: string; version?: string };
    if (pkg.name === name) return pkg.version;
  }
  return undefined;
}

function readIfThere(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Under a name of its own, then renamed into place: a process starting meanwhile reads the old cache or the new one. */
function writeWhole(path: string, contents: Buffer): boolean {
  const partial = `${path}.${process.pid}.partial`;
  try {
    writeFileSync(partial, contents);
    renameSync(partial, path);
    return true;
  } catch {
    return false;
  }
}
