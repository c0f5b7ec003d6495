// (a) Switchboard: the QQ platform in websocket mode (gateway -> adapter -> pipeline, every event
// recorded in the default SQLite store) and a bot whose handler counts and does not reply.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineBot, parseConfig, definitions, Runtime } from './shipped.js';
import { gatewayEnv, reached } from './gateway-sut.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-qq-gateway-bench-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const { url, appId, appSecret } = gatewayEnv.qq;
const yaml = `server: { port: 0 }
store: ${process.env.STORE === 'memory' ? '{ type: memory }' : `{ type: sqlite, path: "${join(dir, 'bench.db')}", sync: normal }`}
log: { level: ${process.env.LOG_LEVEL ?? 'warn'} }
platforms:
  - { id: qq, type: qq, appId: "${appId}", appSecret: "${appSecret}", mode: websocket, apiRoot: "${url}", tokenUrl: "${url}/app/getAppAccessToken" }
`;
const bot = defineBot((b) => b.on('message', () => reached()));
const runtime = await Runtime.create(parseConfig(yaml, { definitions, source: 'bench', baseDir: process.cwd() }), { bot });
await runtime.start();
