import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { AdapterDefinition } from '../src/adapter.js';
import { defineBot, type Bot } from '../src/bot/bot.js';
import { parseConfig } from '../src/runtime/config.js';
import type { Message } from '../src/message.js';
import type { StageHooks } from '../src/pipeline/lifecycle.js';
import { definitions } from '../src/runtime/registry.js';
import { Runtime, type Role } from '../src/runtime/runtime.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose lines land in an array, so tests can assert what an operator would read. */
export function captureLogs() {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** A SQLite file of its own for one test runtime (the default store, without sharing ./data between tests). */
export function tempStorePath(): string {
  return join(mkdtempSync(join(tmpdir(), 'switchboard-test-')), 'switchboard.db');
}

/** Starts a runtime on a free port from YAML text (server.port defaults to 0 here, and the store is a SQLite file of its own). */
export async function startRuntime(yaml: string, options: { bot?: Bot; hooks?: StageHooks; env?: NodeJS.ProcessEnv; definitions?: readonly AdapterDefinition[]; /** Reuse a store file, as a restart would (see tempStorePath). */ storePath?: string; role?: Role } = {}) {
  const config = parseConfig(yaml, { definitions: options.definitions ?? definitions, env: options.env ?? {}, source: 'test.yaml', baseDir: process.cwd() });
  if (!/^\s*server:/m.test(yaml)) config.server.port = 0;
  if (!/^\s*store:/m.test(yaml)) config.store = { type: 'sqlite', path: options.storePath ?? tempStorePath(), sync: 'normal' };
  const logs = captureLogs();
  const runtime = await Runtime.create(config, { bot: options.bot, hooks: options.hooks, logger: logs.logger, definitions: options.definitions, role: options.role });
  await runtime.start();
  return { runtime, logs: logs.lines, url: runtime.url };
}

export async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 3000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A bot that holds every message until `release()`, then answers it with its own text: to fill a pipeline's slots. */
export function heldEchoBot(): { bot: Bot; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const bot = defineBot((b) =>
    b.on('message', async (ctx) => {
      await gate;
      ctx.reply(ctx.text);
    }),
  );
  return { bot, release };
}

/** A bot that records what it saw, then answers like the example bot: /ping -> pong, other text -> the same text. */
export function recordingBot(seen: Message[]): Bot {
  return defineBot((b) => {
    b.command('ping', () => 'pong');
    b.on('message', (ctx) => {
      seen.push(ctx.message);
      return ctx.reply(ctx.text);
    });
  });
}
