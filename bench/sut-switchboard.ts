// (a) Switchboard: Telegram webhook -> pipeline -> bots/echo.ts -> sendMessage. STORE picks the
// store: sqlite (the default, in a fresh temporary file), sqlite-full (synchronous=FULL), memory,
// redis (REDIS_URL under REDIS_PREFIX: instances given the same prefix share the work). LIMITS: below.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, definitions, Runtime } from './shipped.js';
import { env, ready } from './sut.js';

const callbacks = process.env.CALLBACK_URL
  ? `callbacks:\n${(process.env.STAGES ?? '').split(',').filter(Boolean).map((s) => `  ${s}: ${process.env.CALLBACK_URL}/${s}`).join('\n')}\n`
  : '';
const kind = process.env.STORE ?? 'sqlite';
// A fresh database per run, gone with the process: five rounds of several rows would otherwise pile up in tmp.
const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const store =
  kind === 'memory'
    ? '{ type: memory }'
    : kind === 'redis'
      ? `{ type: redis, url: "${process.env.REDIS_URL}", prefix: "${process.env.REDIS_PREFIX}" }`
      : `{ type: sqlite, path: "${join(dir, 'bench.db')}", sync: ${kind === 'sqlite-full' ? 'full' : 'normal'} }`;
// LIMITS=1 (the soak's --soak-limits): per-chat pacing and a per-user limit, so their per-chat and
// per-user state is exercised; no bot-wide rate, which would pace the whole load.
const limited = process.env.LIMITS === '1';
const yaml = `server: { port: 0 }
${process.env.BOT ? `bot: "${process.env.BOT}"\n` : ''}store: ${store}
log: { level: ${process.env.LOG_LEVEL ?? 'warn'} }
${limited ? 'limits: { perUser: { messages: 20, per: 1m } }\n' : ''}platforms:
  - { id: tg, type: telegram, token: "${env.token}", mode: webhook, secretToken: ${env.secret}, apiRoot: "${env.apiRoot}", limits: ${limited ? '{ chat: { count: 1, per: 1s, burst: 3 } }' : 'false'} }
${callbacks}${process.env.CONSOLE_TOKEN ? `console: { token: ${process.env.CONSOLE_TOKEN} }\n` : ''}`;
const runtime = await Runtime.create(parseConfig(yaml, { definitions, source: 'bench', baseDir: process.cwd() }));
await runtime.start();
ready(Number(new URL(runtime.url).port), kind.startsWith('sqlite') ? ['', '-wal', '-shm'].map((suffix) => join(dir, `bench.db${suffix}`)) : []);
