// (a) Switchboard: the Discord platform (discord.js gateway -> adapter -> pipeline, every event
// recorded in the default SQLite store) and a bot whose handler counts and does not reply.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineBot, parseConfig, definitions, Runtime } from './shipped.js';
import { gatewayEnv, reached } from './gateway-sut.js';

const path = join(mkdtempSync(join(tmpdir(), 'switchboard-gateway-bench-')), 'bench.db');
const yaml = `server: { port: 0 }
store: ${process.env.STORE === "memory" ? "{ type: memory }" : `{ type: sqlite, path: "${path}", sync: normal }`}
log: { level: ${process.env.LOG_LEVEL ?? 'warn'} }
platforms:
  - { id: dc, type: discord, token: "${gatewayEnv.token}", apiRoot: "${gatewayEnv.apiRoot}", shardCount: 1, identifyInterval: 0ms }
`;
const bot = defineBot((b) => b.on('message', () => reached()));
const runtime = await Runtime.create(parseConfig(yaml, { definitions, source: 'bench', baseDir: process.cwd() }), { bot });
await runtime.start();
