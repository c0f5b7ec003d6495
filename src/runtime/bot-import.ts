// Imports the operator's bot module, whatever it is written in. A TypeScript bot loads without a
// build step: the compiled runtime registers tsx the first time it must import a .ts file (run
// from source a loader is already in place: this very module is TypeScript).
//
// Run from a repository checkout (bin/switchboard.js, compiled into a cache by
// scripts/source-cache.js), a bot outside that cache may reach Switchboard by its sources:
// `import ... from 'switchboard'` (the "switchboard-source" export condition) or by a relative
// path into src/. A resolve hook hands it the compiled module instead, the one the runtime itself
// runs: one Bot class, one copy of every module.

import { existsSync, readFileSync } from 'node:fs';
import { register } from 'node:module';
import { dirname, join } from 'node:path';
import { Bot } from '../bot/bot.js';
import { fileURLToPath, pathToFileURL } from 'node:url';

const runningFromSource = /\.[cm]?ts$/.test(new URL(import.meta.url).pathname);
let tsx: Promise<void> | undefined;
let mapped = false;

/** The default export of the module at `path`. */
export async function importDefault(path: string, url: string): Promise<unknown> {
  if (/\.tsx?$/.test(path)) refuseCommonJs(path);
  await prepareImport(path);
  return ((await import(url)) as { default?: unknown }).default;
}

/** The bot a module exports by default. `query` makes the URL a new one, for ESM to import the module afresh (start --watch, see reload.ts). */
export async function loadBot(path: string, query = ''): Promise<Bot> {
  const bot = await importDefault(path, pathToFileURL(path).href + query);
  if (!(bot instanceof Bot)) throw new Error(`${path} must export a bot by default: export default defineBot(bot => { ... })`);
  return bot;
}

/**
 * Registers what importing `path` needs: tsx for TypeScript, then the source-to-compiled mapping
 * for a bot outside a checkout's compiled cache (the later hook runs first, and resolves through
 * tsx). Other resolve hooks (reload.ts) are registered after these, to see the URLs they give.
 */
export async function prepareImport(path: string): Promise<void> {
  if (runningFromSource) return;
  if (/\.[cm]?tsx?$/.test(path)) await (tsx ??= import('tsx/esm/api').then(({ register }) => void register()));
  if (mapped) return;
  const checkout = compiledFrom();
  if (checkout === undefined || pathToFileURL(path).href.startsWith(checkout.cache)) return;
  mapped = true;
  register(`data:text/javascript,${encodeURIComponent(toCompiled)}`, { data: checkout });
}

const toCompiled = `
let source, cache;
export async function initialize(data) { ({ source, cache } = data); }
export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, { ...context, conditions: [...context.conditions, 'switchboard-source'] });
  const { url } = resolved;
  if (!url.startsWith(source) || url.includes('?')) return resolved;
  const compiled = /^((?:src|adapters|bots|testing)\\/.*)\\.ts$/.exec(url.slice(source.length));
  return compiled ? { url: cache + compiled[1] + '.js', format: 'module', shortCircuit: true } : resolved;
}`;

/** The checkout this runtime was compiled from (file URLs ending in /), when it runs from its cache. */
function compiledFrom(): { source: string; cache: string } | undefined {
  const cache = new URL('../../', import.meta.url);
  try {
    const manifest = JSON.parse(readFileSync(new URL('package.json', cache), 'utf8')) as { switchboard?: { compiledFrom?: string } };
    const from = manifest.switchboard?.compiledFrom;
    return from === undefined ? undefined : { source: new URL(`${from}/`, cache).href, cache: cache.href };
  } catch {
    return undefined;
  }
}

/**
 * A bot.ts in a package without "type": "module" is CommonJS to Node and tsx: it would get a copy
 * of switchboard of its own (its Bot not ours), or fail with ERR_REQUIRE_CYCLE_MODULE.
 */
function refuseCommonJs(path: string): void {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      if ((JSON.parse(readFileSync(manifest, 'utf8')) as { type?: string }).type === 'module') return;
      throw new Error(`${path} is an ES module in a CommonJS package: add "type": "module" to ${manifest}, or name the bot file .mts`);
    }
    if (dirname(dir) === dir) return;
  }
}
