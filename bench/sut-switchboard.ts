// (a) Switchboard: Telegram webhook -> pipeline -> bots/echo.ts -> sendMessage.
import { parseConfig } from '../src/runtime/config.js';
import { definitions } from '../src/runtime/registry.js';
import { Runtime } from '../src/runtime/runtime.js';
import { env, ready } from './sut.js';

const callbacks = process.env.CALLBACK_URL
  ? `callbacks:\n${(process.env.STAGES ?? '').split(',').filter(Boolean).map((s) => `  ${s}: ${process.env.CALLBACK_URL}/${s}`).join('\n')}\n`
  : '';
const yaml = `server: { port: 0 }
log: { level: ${process.env.LOG_LEVEL ?? 'warn'} }
platforms:
  - { id: tg, type: telegram, token: "${env.token}", mode: webhook, secretToken: ${env.secret}, apiRoot: "${env.apiRoot}" }
${callbacks}`;
const runtime = await Runtime.create(parseConfig(yaml, { definitions, source: 'bench', baseDir: process.cwd() }));
await runtime.start();
ready(Number(new URL(runtime.url).port));
