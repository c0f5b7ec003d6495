// (a) Switchboard on one webhook platform (PLATFORM: its `platforms:` entry), every event recorded
// in the default SQLite store, and a bot whose handler counts and does not reply.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineBot, parseConfig, definitions, Runtime } from './shipped.js';
import { reached } from './gateway-sut.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-inbound-bench-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const yaml = `server: { port: 0 }
store: { type: sqlite, path: "${join(dir, 'bench.db')}", sync: normal }
log: { level: warn }
platforms:
${process.env.PLATFORM}
`;
const bot = defineBot((b) => b.on('message', () => reached()));
const runtime = await Runtime.create(parseConfig(yaml, { definitions, source: 'bench', baseDir: process.cwd() }), { bot });
await runtime.start();
process.stdout.write(`ready ${new URL(runtime.url).port}\n`);
