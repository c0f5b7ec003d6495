// Switchboard run from this repository (bin/switchboard.js): the TypeScript sources compiled to
// JavaScript by esbuild into node_modules/.cache/switchboard/, and compiled again at start
// whenever a source is newer than that build. No build step to remember, and no TypeScript
// loader at every start (tsx cost hundreds of ms; the check costs a few).
//
// This module is the check that every start runs, and nothing more: the build
// (scripts/source-build.js, with esbuild and the bundling scripts) is imported only when a source
// changed. Each ES module loaded here costs a start a few ms (Node 20 keeps no code cache for them).
//
// The cache has a package.json named "switchboard" whose exports point at the compiled files: a
// module in the cache that imports 'switchboard' (bots/echo) gets those very modules through
// the package's self-reference. A bot elsewhere in the repository is mapped to them by
// src/runtime/bot-import.ts, which reads `switchboard.compiledFrom` here.
//
// Bundled as dist/ is (scripts/bundle.js), with the heaviest CommonJS packages bundled apart
// (scripts/cjs-bundles.js): those follow node_modules, not the sources, and are built again only
// when the lockfile changes.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root, ending with the separator. */
export const root = fileURLToPath(new URL('..', import.meta.url));
export const cacheDir = join(root, 'node_modules/.cache/switchboard');
/** Written last, its mtime set to the time the build began: the cache is fresh while no source is newer. */
export const manifest = join(cacheDir, 'package.json');
/** What the last build was made from: every file and folder the build found, and its inputs. */
export const listing = join(cacheDir, 'sources.json');
/**
 * The manifest of the packages bundled apart (scripts/cjs-bundles.js's vendorDir and manifestName,
 * where src/runtime/require-commonjs.ts finds it), written last; its mtime set to the time their build began.
 */
export const apartManifest = join(cacheDir, 'vendor/manifest.json');
/** What those bundles are built from: the installed packages (the lockfile says when they change) and the script. */
const apartInputs = ['package.json', 'package-lock.json', 'scripts/cjs-bundles.js'];

/** The compiled cli module's path, compiled first if a source changed since the last build. */
export async function compiledCli() {
  const sourcesChanged = changedSinceBuild();
  const packagesChanged = apartInputsNewest() >= builtAt(apartManifest);
  if (sourcesChanged || packagesChanged) {
    const { build, buildApart, scan } = await import('./source-build.js');
    if (sourcesChanged) await build(scan());
    if (packagesChanged) await buildApart();
  }
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

function builtAt(path = manifest) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -Infinity;
  }
}

function apartInputsNewest() {
  return Math.max(...apartInputs.map((file) => statSync(root + file, { throwIfNoEntry: false })?.mtimeMs ?? 0));
}
