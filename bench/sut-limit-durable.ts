// The limit, durable: bench/sut-limit.ts's echo plus the SQLite writes Switchboard makes for one
// message, with better-sqlite3 alone, batched per tick into one transaction as
// src/store/sqlite/batch.ts batches them: the update's dedup key and event row committed before the
// 200, the reply put in the outbox before it is sent and marked delivered after, then the event and
// its reply deleted. No framework, no journal but the update itself: what durability costs at the
// least on this machine. FRONT=koa puts koa and @koa/router in front, as Switchboard has them: what
// that layer costs. Read beside (a) in bench/README.md ("Where a's time goes").
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Router from '@koa/router';
import Database from 'better-sqlite3';
import Koa from 'koa';
import { Pool } from 'undici';
import { env, ready, webhookByHand } from './sut.js';

interface Update {
  update_id: number;
  message?: { message_id: number; chat: { id: number }; text?: string };
}

const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-limit-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const db = new Database(join(dir, 'limit.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`
  CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires INTEGER) WITHOUT ROWID;
  CREATE TABLE events (id TEXT PRIMARY KEY, key TEXT, journal TEXT NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE outbox (key TEXT PRIMARY KEY, event_id TEXT NOT NULL, message TEXT NOT NULL, state TEXT NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX outbox_event ON outbox(event_id);
`);
const sql = {
  claim: db.prepare('INSERT INTO kv (key, value, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO NOTHING'),
  admit: db.prepare('INSERT INTO events (id, key, journal, created) VALUES (?, ?, ?, ?)'),
  add: db.prepare(`INSERT INTO outbox (key, event_id, message, state, created) VALUES (?, ?, ?, 'pending', ?)`),
  delivered: db.prepare(`UPDATE outbox SET state = 'delivered' WHERE key = ?`),
  finish: db.prepare('DELETE FROM events WHERE id = ?'),
  forget: db.prepare(`DELETE FROM outbox WHERE event_id = ? AND state = 'delivered'`),
};

interface Write {
  run: () => unknown;
  done: (result: unknown) => void;
}
let queued: Write[] = [];
const commit = db.transaction((ops: Write[]) => ops.map((op) => op.run())).immediate;
/** Queued until the tick's end, then committed with the tick's other writes; settles once committed. */
function write<T>(run: () => T): Promise<T> {
  return new Promise((resolve) => {
    if (queued.length === 0) setImmediate(flush);
    queued.push({ run, done: resolve as (result: unknown) => void });
  });
}
function flush(): void {
  const ops = queued;
  queued = [];
  const results = commit(ops);
  for (let i = 0; i < ops.length; i++) ops[i]!.done(results[i]);
}

const api = new Pool(env.apiRoot, { keepAliveTimeout: 60_000 });
const sendMessage = `/bot${env.token}/sendMessage`;

/** Records the update, has `answer` send the 200, then replies through the outbox. */
async function echo(raw: string, answer: () => void): Promise<void> {
  const update = JSON.parse(raw) as Update;
  const id = randomUUID();
  const now = Date.now();
  const fresh = await write(() => sql.claim.run(`dedup:tg:${update.update_id}`, id, now + 3_600_000).changes === 1 && sql.admit.run(id, String(update.update_id), raw, now));
  answer();
  const message = update.message;
  if (!fresh || !message?.text) return;
  const text = message.text.startsWith('/echo ') ? message.text.slice('/echo '.length) : message.text;
  const body = JSON.stringify({ chat_id: message.chat.id, text, reply_parameters: { message_id: message.message_id } });
  const key = `${id}:0`;
  await write(() => sql.add.run(key, id, body, now));
  const reply = await api.request({ method: 'POST', path: sendMessage, headers: { 'content-type': 'application/json' }, body });
  await reply.body.dump();
  await write(() => sql.delivered.run(key));
  await write(() => {
    sql.finish.run(id);
    sql.forget.run(id);
  });
}

const failed = (error: Error) => console.error(`echo failed: ${error.message}`);

function byHand(req: IncomingMessage, res: ServerResponse): void {
  webhookByHand(req, res, (body) => void echo(body, () => res.writeHead(200).end()).catch(failed));
}

function throughKoa(): ReturnType<Koa['callback']> {
  const app = new Koa();
  const router = new Router();
  router.post('/webhooks/:id', async (ctx) => {
    if (ctx.get('x-telegram-bot-api-secret-token') !== env.secret) return void (ctx.status = 401);
    const raw = await new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      ctx.req.on('data', (chunk: Buffer) => chunks.push(chunk));
      ctx.req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((answered) => void echo(raw, answered).catch(failed));
    ctx.status = 200;
  });
  app.use(router.routes());
  return app.callback();
}

const server = createServer(process.env.FRONT === 'koa' ? throughKoa() : byHand);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => ready((server.address() as { port: number }).port));
