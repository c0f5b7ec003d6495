// Switchboard run from this repository (bin/switchboard.js): the TypeScript sources compiled to
// JavaScript by esbuild into node_modules/.cache/switchboard/, and compiled again at start
// whenever a source is newer than that build. No build step to remember, and no TypeScript
// loader at every start (tsx cost hundreds of ms; the check costs a few).
//
// The cache has a package.json named "switchboard" whose exports point at the compiled files: a
// module in the cache that imports 'switchboard' (bots/echo) gets those very modules through
// the package's self-reference. A bot elsewhere in the repository is mapped to them by
// src/runtime/bot-import.ts, which reads `switchboard.compiledFrom` here.
//
// Bundled as dist/ is (scripts/bundle.js), with the heaviest CommonJS packages bundled apart
// (scripts/cjs-bundles.js): those follow node_modules, not the sources, and are built again only
// when the lockfile changes.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleApart, manifestName, vendorDir } from './cjs-bundles.js';

const root = fileURLToPath(new URL('..', import.meta.url));
/** console/dist: the operator console's committed bundle, served from beside the compiled src/console. */
const roots = ['src', 'adapters', 'bots', 'testing', 'console/dist'];
/** Files whose change changes the output too. */
const inputs = ['package.json', 'tsconfig.json', 'scripts/source-cache.js', 'scripts/bundle.js'];
export const cacheDir = join(root, 'node_modules/.cache/switchboard');
/** Written last, its mtime set to the time the build began: the cache is fresh while no source is newer. */
const manifest = join(cacheDir, 'package.json');
/** What the last build was made from: every file and folder scan() found, and the inputs. */
const listing = join(cacheDir, 'sources.json');

/** The compiled cli module's path, compiled first if a source changed since the last build. */
export async function compiledCli() {
  if (changedSinceBuild()) await build(scan());
  if (apartInputsNewest() >= builtAt(apartManifest)) await buildApart();
  return join(cacheDir, 'src/runtime/cli.js');
}

/**
 * Whether a file or folder of the last build's listing is newer than that build, or gone. A file
 * added, removed or renamed moves its folder's mtime, so the listing needs no new walk of the
 * folders: a stat each, stopping at the first change, is the whole check at every start.
 */
function changedSinceBuild() {
  const since = builtAt();
  let listed;
  try {
    listed = JSON.parse(readFileSync(listing, 'utf8'));
  } catch {
    return true;
  }
  // `root` ends with the separator and the listed paths are relative and normalized (scan() joined
  // them): a concatenation, where path.join's normalizing of each took more than the stat at a cold start.
  for (const path of listed) {
    const stat = statSync(root + path, { throwIfNoEntry: false });
    if (!stat || stat.mtimeMs >= since) return true;
  }
  return false;
}

/**
 * Every file of the compiled folders, and the newest mtime among them and their folders (a
 * folder's mtime moves when a file in it is added, removed or renamed).
 */
function scan() {
  const files = [];
  const folders = [];
  let newest = 0;
  const visit = (dir) => {
    folders.push(dir);
    newest = Math.max(newest, statSync(join(root, dir)).mtimeMs);
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else {
        files.push(path);
        newest = Math.max(newest, statSync(join(root, path)).mtimeMs);
      }
    }
  };
  // testing/ is left out of the Docker image.
  for (const dir of roots) if (existsSync(join(root, dir))) visit(dir);
  for (const file of inputs) newest = Math.max(newest, statSync(join(root, file)).mtimeMs);
  return { files, folders, newest };
}

function builtAt(path = manifest) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -Infinity;
  }
}

/**
 * Several processes may start at once (the test suite does): each file is written whole under
 * a name of its own and renamed into place, so a reader sees the old file or the new one. Chunk
 * names carry a hash of their content: a process still running an older build finds its chunks.
 */
async function build({ files, folders }) {
  const began = new Date();
  const [{ build: esbuild }, { bundleOptions, chunkDir }] = await Promise.all([import('esbuild'), import('./bundle.js')]);
  // A cache compiled file by file before: those files would shadow nothing, but a bot's relative
  // import into src/ (bot-import.ts) could reach one and get a second copy of Switchboard.
  if (!bundledBefore()) rmSync(cacheDir, { recursive: true, force: true });
  const result = await esbuild({ ...bundleOptions(root, cacheDir), sourcemap: 'linked', write: false });
  for (const out of result.outputFiles) writeWhole(out.path, out.contents);
  pruneOlder(join(cacheDir, chunkDir), new Set(result.outputFiles.map((out) => out.path)), began);
  // Files the runtime reads by path (the sandbox page) go next to the modules that read them.
  for (const file of files.filter((f) => !/\.[cm]?ts$/.test(f))) writeWhole(join(cacheDir, file), readFileSync(join(root, file)));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const own = {
    ...pkg,
    private: true,
    scripts: undefined,
    bin: undefined,
    main: undefined,
    types: undefined,
    exports: { '.': './src/index.js', './testing': './testing/index.js', './package.json': './package.json' },
    switchboard: { compiledFrom: relative(cacheDir, root) || '.', bundled: true },
  };
  writeWhole(listing, JSON.stringify([...folders, ...files, ...inputs]));
  writeWhole(manifest, `${JSON.stringify(own, null, 2)}\n`);
  utimesSync(manifest, began, began);
}

/** The manifest of the packages bundled apart, written last; its mtime set to the time their build began. */
const apartManifest = join(cacheDir, vendorDir, manifestName);
/** What those bundles are built from: the installed packages (the lockfile says when they change) and the script. */
const apartInputs = ['package.json', 'package-lock.json', 'scripts/cjs-bundles.js'];

function apartInputsNewest() {
  return Math.max(...apartInputs.map((file) => statSync(join(root, file), { throwIfNoEntry: false })?.mtimeMs ?? 0));
}

async function buildApart() {
  const began = new Date();
  const esbuild = await import('esbuild');
  const files = await bundleApart(root, cacheDir, esbuild);
  // The manifest comes last: a process starting meanwhile finds the old bundles or every new one.
  for (const file of files) writeWhole(file.path, file.contents);
  utimesSync(apartManifest, began, began);
  pruneOlder(join(cacheDir, vendorDir), new Set(files.map((file) => file.path)), began);
}

function bundledBefore() {
  try {
    return JSON.parse(readFileSync(manifest, 'utf8')).switchboard?.bundled === true;
  } catch {
    return false;
  }
}

/**
 * Chunks (or packages bundled apart, with their code caches) of earlier builds, once no process
 * started from one is likely to load it any more (adapters load at start). Another process building
 * at the same time may rename or prune a file between the listing and its stat: one gone is no
 * one's to prune.
 */
function pruneOlder(dir, current, began) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (current.has(path) || current.has(path.replace(/\.v8cache$/, ''))) continue;
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat && stat.mtimeMs < began.getTime() - chunkGraceMs) rmSync(path, { force: true });
  }
}

const chunkGraceMs = 10 * 60_000;

function writeWhole(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, contents);
  renameSync(partial, path);
}

// `node scripts/source-cache.js`: compile now, and say how long the check and the build took.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const sources = scan();
  const scanned = performance.now();
  await build(sources);
  await buildApart();
  console.log(`${sources.files.length} files checked in ${(scanned - started).toFixed(1)} ms (newest ${new Date(sources.newest).toISOString()}), compiled in ${(performance.now() - scanned).toFixed(0)} ms`);
}
