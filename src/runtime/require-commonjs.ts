// A CommonJS package (a platform SDK, koa), loaded with require() rather than import. Importing a
// CommonJS module from ES modules makes Node first scan its source for the names it exports
// (cjs-module-lexer); for an SDK bundled into one large file that scan costs more than running
// it (@larksuiteoapi/node-sdk: 6 MB, ~190 ms of CPU at start), and a package's ES wrapper that
// imports its files one by one has each scanned. require() skips it, and gets the same module
// instance an import would (Node keeps one CommonJS cache) unless the package ships a separate
// ES build: then only what is required is loaded, and nothing must import the other.
//
// Compiled (the source cache, dist/), the heaviest of them come bundled into one file each
// (scripts/cjs-bundles.js): runBundle runs that file in the package's place. Run from the sources
// as they are (the tests in-process), there is no bundle and the package loads as it ships.

import { createRequire } from 'node:module';
import { runBundle } from './cjs-bundle.js';

const require = createRequire(import.meta.url);

/** What scripts/cjs-bundles.js writes, from a compiled module's place (as deep as src/runtime/). */
const vendorDir = new URL('../../vendor/', import.meta.url);

/** The package's exports, typed `T` (the type of its module, as an adapter's sdk.ts names it). */
export function requireCommonJs<T>(name: string): T {
  return (runBundle(name, vendorDir, require)?.exports ?? require(name)) as T;
}
