// A runtime with the operator console on, as `switchboard start` makes it: the logger's lines pass
// through the console's tap (kept here in an array instead of stdout).

import { Writable } from 'node:stream';
import type { Bot } from '../src/bot/bot.js';
import { openConsole } from '../src/console/index.js';
import { parseConfig } from '../src/runtime/config.js';
import { createLogger } from '../src/runtime/logger.js';
import { definitions } from '../src/runtime/registry.js';
import { Runtime } from '../src/runtime/runtime.js';
import { tempStorePath } from './helpers.js';

export async function startWithConsole(yaml: string, options: { bot?: Bot; env?: NodeJS.ProcessEnv; sampleMs?: number } = {}) {
  const config = parseConfig(yaml, { definitions, env: options.env ?? {}, source: 'test.yaml', baseDir: process.cwd() });
  if (!/^\s*server:/m.test(yaml)) config.server.port = 0;
  if (!/^\s*store:/m.test(yaml)) config.store = { type: 'sqlite', path: tempStorePath(), sync: 'normal' };
  const hub = openConsole(config, definitions, { sampleMs: options.sampleMs });
  const lines: string[] = [];
  const out = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
  const logger = createLogger('info', hub ? hub.tap(out as never) : (out as never));
  const runtime = await Runtime.create(config, { bot: options.bot, logger, console: hub });
  await runtime.start();
  return { runtime, url: runtime.url, lines, hub: hub! };
}

/** The one-time login link the log shows when the console has no token. */
export function loginLink(lines: readonly string[]): string | undefined {
  return lines.join('').match(/http:\/\/[^\s"]+\/console\/login\?token=[\w-]+/)?.[0];
}
