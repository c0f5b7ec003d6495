// Imports the operator's bot module, whatever it is written in. A TypeScript bot loads without a
// build step: the compiled runtime registers tsx the first time it must import a .ts file (run
// from source a loader is already in place: this very module is TypeScript).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const runningFromSource = /\.[cm]?ts$/.test(new URL(import.meta.url).pathname);
let registered: Promise<void> | undefined;

/** The default export of the module at `path`. */
export async function importDefault(path: string, url: string): Promise<unknown> {
  if (/\.tsx?$/.test(path)) refuseCommonJs(path);
  if (!runningFromSource && /\.[cm]?tsx?$/.test(path)) {
    registered ??= import('tsx/esm/api').then(({ register }) => void register());
    await registered;
  }
  return ((await import(url)) as { default?: unknown }).default;
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
