// A CommonJS package (a platform SDK, koa), loaded with require() rather than import. Importing a
// CommonJS module from ES modules makes Node first scan its source for the names it exports
// (cjs-module-lexer); for an SDK bundled into one large file that scan costs more than running
// it (@larksuiteoapi/node-sdk: 6 MB, ~190 ms of CPU at start), and a package's ES wrapper that
// imports its files one by one has each scanned. require() skips it, and gets the same module
// instance an import would (Node keeps one CommonJS cache) unless the package ships a separate
// ES build: then only what is required is loaded, and nothing must import the other.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The package's exports, typed `T` (the type of its module, as an adapter's sdk.ts names it). */
export function requireCommonJs<T>(name: string): T {
  return require(name) as T;
}
