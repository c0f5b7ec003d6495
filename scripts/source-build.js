// The source cache's build (scripts/source-cache.js says what the cache is): the sources compiled
// by esbuild as dist/ is (scripts/bundle.js), the CommonJS packages bundled apart
// (scripts/cjs-bundles.js), and the listing the check at every start compares against. Imported
// only when that check finds a source, or the lockfile, newer than the last build.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleApart, manifestName, vendorDir } from './cjs-bundles.js';
import { apartManifest, cacheDir, listing, manifest, root } from './source-cache.js';

/** console/dist: the operator console's committed bundle, served from beside the compiled src/console. */
const roots = ['src', 'adapters', 'bots', 'testing', 'console/dist'];
/** Files whose change changes the output too. */
const inputs = ['package.json', 'tsconfig.json', 'scripts/source-cache.js', 'scripts/source-build.js', 'scripts/bundle.js'];

if (join(cacheDir, vendorDir, manifestName) !== apartManifest) throw new Error('scripts/source-cache.js: apartManifest is not where scripts/cjs-bundles.js writes the manifest');

/**
 * Every file of the compiled folders, and the newest mtime among them and their folders (a
 * folder's mtime moves when a file in it is added, removed or renamed).
 */
export function scan() {
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

/**
 * Several processes may start at once (the test suite does): each file is written whole under
 * a name of its own and renamed into place, so a reader sees the old file or the new one. Chunk
 * names carry a hash of their content: a process still running an older build finds its chunks.
 */
export async function build({ files, folders }) {
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

export async function buildApart() {
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

// `node scripts/source-build.js` (the Docker image's compile step): compile now, and say how long the check and the build took.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const sources = scan();
  const scanned = performance.now();
  await build(sources);
  await buildApart();
  console.log(`${sources.files.length} files checked in ${(scanned - started).toFixed(1)} ms (newest ${new Date(sources.newest).toISOString()}), compiled in ${(performance.now() - scanned).toFixed(0)} ms`);
}
