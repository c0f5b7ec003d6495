// The runtime as `npm start` runs it in this repository: the sources compiled by esbuild into
// node_modules/.cache/switchboard (scripts/source-cache.js, rebuilt here if a source is newer).
// Not the sources through tsx: tsx compiles with keepNames, which wraps every function made at
// run time (each closure a request makes) in a defineProperty call that the shipped code never
// pays, about 2% of a webhook echo's CPU.

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface SourceCache {
  cacheDir: string;
  compiledCli(): Promise<string>;
}
const sourceCache = (await import(new URL('../scripts/source-cache.js', import.meta.url).href)) as SourceCache;
await sourceCache.compiledCli();
const load = <T>(path: string): Promise<T> => import(pathToFileURL(join(sourceCache.cacheDir, path)).href) as Promise<T>;

export const { defineBot } = await load<typeof import('../src/bot/bot.js')>('src/bot/bot.js');
export const { parseConfig } = await load<typeof import('../src/runtime/config.js')>('src/runtime/config.js');
export const { definitions } = await load<typeof import('../src/runtime/registry.js')>('src/runtime/registry.js');
export const { Runtime } = await load<typeof import('../src/runtime/runtime.js')>('src/runtime/runtime.js');
