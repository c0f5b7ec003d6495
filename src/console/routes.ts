// The console's HTTP side: its pages, its JSON API, the live feed (Server-Sent Events). Reads need
// a session; actions are POSTs with the session's CSRF token; localOnly answers 404 to anyone
// not on this machine.

import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { Context, Next } from 'koa';
import { HttpError, readRawBody } from '../inbound/http.js';
import { Router } from '../inbound/server.js';
import type { OutboxRecord } from '../store/index.js';
import { cookieName, crossOrigin } from './auth.js';
import { summary, summaryJson } from './buffer.js';
import { FeedBatcher } from './feed.js';
import type { ConsoleHost, OperatorConsole } from './index.js';
import type { Numbers } from './numbers.js';
import { appPage, loginPage } from './pages.js';

interface Mounted {
  console: OperatorConsole;
  host: ConsoleHost;
  numbers: Numbers;
}

/** Where the committed bundle lives: console/dist from the sources, dist/console/dist once built (scripts/build.js). */
const assetDir = new URL('../../console/dist/', import.meta.url);
const assetTypes: Record<string, string> = { 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' };

const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const loopback = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
/** How long the feed waits to send changes together: at 100 messages/s a browser gets 10 batches a second, not hundreds of events. */
const batchMs = 100;

export function mountConsole(root: Router, mounted: Mounted): void {
  const { console: hub, host } = mounted;
  const { auth } = hub;
  const assets = new Map(Object.keys(assetTypes).map((name) => [name, readFileSync(new URL(name, assetDir))]));
  const router = new Router({ prefix: '/console' });
  router.use(async (ctx: Context, next: Next) => {
    if (hub.config.localOnly && !loopback.has(ctx.req.socket.remoteAddress ?? '')) throw new HttpError(404, 'Not Found');
    ctx.set('Content-Security-Policy', csp);
    ctx.set('X-Content-Type-Options', 'nosniff');
    // same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on a form POST, and the origin check would refuse the login.
    ctx.set('Referrer-Policy', 'same-origin');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  const reads = async (ctx: Context, next: Next) => guard(ctx, next, false);
  const acts = async (ctx: Context, next: Next) => guard(ctx, next, true);
  function guard(ctx: Context, next: Next, action: boolean) {
    const refusal = auth.refusal(ctx, action);
    if (refusal) throw new HttpError(refusal.status, refusal.error);
    return next();
  }

  router.get('/', (ctx) => {
    if (!auth.session(ctx.cookies.get(cookieName))) return ctx.redirect('/console/login');
    ctx.type = 'html';
    ctx.body = appPage;
  });
  router.get('/login', (ctx) => {
    const token = ctx.query.token;
    if (typeof token === 'string') return logIn(ctx, token);
    ctx.type = 'html';
    ctx.body = loginPage();
  });
  router.post('/login', async (ctx) => {
    if (crossOrigin(ctx)) throw new HttpError(403, 'cross-origin request refused');
    const form = new URLSearchParams((await readRawBody(ctx.req, 4096)).toString('utf8'));
    logIn(ctx, form.get('token') ?? '');
  });
  function logIn(ctx: Context, token: string) {
    const session = auth.login(token);
    if (!session) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginPage('That token is not the console token.');
      return;
    }
    auth.setCookie(ctx, session.id);
    ctx.status = 303;
    ctx.redirect('/console');
  }
  router.post('/logout', acts, (ctx) => {
    auth.logout(ctx.cookies.get(cookieName));
    ctx.cookies.set(cookieName, null, { path: '/console' });
    ctx.status = 204;
  });
  router.get('/assets/:file', (ctx) => {
    const body = assets.get(ctx.params.file!);
    if (!body) throw new HttpError(404, 'Not Found');
    ctx.type = assetTypes[ctx.params.file!]!;
    ctx.body = body;
  });

  router.get('/api/session', reads, (ctx) => {
    ctx.body = { csrf: auth.session(ctx.cookies.get(cookieName))!.csrf };
  });
  router.get('/api/events', reads, (ctx) => {
    ctx.body = hub.buffer.latest(Math.min(Number(ctx.query.limit) || 200, 1000)).map(summary);
  });
  router.get('/api/events/:id', reads, (ctx) => {
    const record = hub.buffer.get(ctx.params.id!);
    if (!record) throw new HttpError(404, 'no such message in the console (it may have been pushed out by newer ones)');
    ctx.body = record;
  });
  router.get('/api/feed', reads, (ctx) => feed(ctx, hub));
  router.get('/api/connections', reads, (ctx) => {
    ctx.body = connections(host);
  });
  router.post('/api/connections/:name/restart', acts, (ctx) => {
    const supervisor = [...host.connections.values()].map((held) => held.get(ctx.params.name!)).find(Boolean);
    if (!supervisor) throw new HttpError(404, `no connection named "${ctx.params.name}"`);
    if (!supervisor.restart()) throw new HttpError(409, `the connection is ${supervisor.state}: not running here, nothing to restart`);
    host.logger.info({ connection: ctx.params.name }, 'connection restarted from the console');
    ctx.body = { restarted: ctx.params.name };
  });
  router.get('/api/outbox', reads, async (ctx) => {
    const [dead, retrying] = await Promise.all([host.store.outbox.list('dead', 500), host.store.outbox.list('retry', 500)]);
    ctx.body = [...dead, ...retrying].map(plainRecord);
  });
  router.get('/api/outbox/:key', reads, async (ctx) => {
    const record = await host.store.outbox.get(ctx.params.key!);
    if (!record) throw new HttpError(404, `no item ${ctx.params.key} in the outbox`);
    ctx.body = plainRecord(record);
  });
  router.post('/api/outbox/:key/:action', acts, async (ctx) => {
    const { key, action } = ctx.params as { key: string; action: string };
    if (action !== 'retry' && action !== 'drop') throw new HttpError(404, 'Not Found');
    const done = action === 'retry' ? await host.store.outbox.retry(key) : await host.store.outbox.drop(key);
    if (!done) {
      const record = await host.store.outbox.get(key);
      throw record ? new HttpError(409, `${key} is ${record.state}, not a dead letter`) : new HttpError(404, `no item ${key} in the outbox`);
    }
    host.logger.info({ item: key }, action === 'retry' ? 'dead letter queued again from the console' : 'dead letter dropped from the console');
    ctx.body = { [action === 'retry' ? 'queued' : 'dropped']: key };
  });
  router.get('/api/numbers', reads, (ctx) => {
    ctx.body = { intervalMs: mounted.numbers.intervalMs, ...mounted.numbers.charts() };
  });
  router.get('/api/config', reads, (ctx) => {
    ctx.body = { check: hub.checked, buffer: { events: hub.buffer.limits.capacity, eventBytes: hub.buffer.limits.eventBytes, held: hub.buffer.size } };
  });
  root.use(router.routes(), router.allowedMethods());
}

/** Server-Sent Events: the summaries of messages that changed, in batches. */
function feed(ctx: Context, hub: OperatorConsole): void {
  const stream = new PassThrough();
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  ctx.type = 'text/event-stream';
  ctx.set('Cache-Control', 'no-store');
  // nginx holds a proxied response until it is done unless told not to: a feed never is.
  ctx.set('X-Accel-Buffering', 'no');
  ctx.status = 200;
  ctx.body = stream;
  const batcher = new FeedBatcher(hub.buffer);
  let timer: NodeJS.Timeout | undefined;
  let asleep: (() => void) | undefined;
  // A batch goes batchMs after the first change it holds; then the feed sleeps until the next change.
  const wake = () => {
    asleep = undefined;
    timer = setTimeout(flush, batchMs);
  };
  const flush = () => {
    const batch = batcher.take();
    // Records kept for the next batch (in progress, unseen, under sampling) get one.
    if (batcher.waiting > 0) timer = setTimeout(flush, batchMs);
    else {
      timer = undefined;
      asleep = hub.buffer.onNextChange(wake);
    }
    if (batch.length > 0) stream.write(`data: ${summaryJson(batch)}\n\n`);
  };
  asleep = hub.buffer.onNextChange(wake);
  const ping = setInterval(() => stream.write(': ping\n\n'), 15_000);
  stream.write('retry: 2000\n\n');
  ctx.req.once('close', () => {
    asleep?.();
    clearInterval(ping);
    clearTimeout(timer);
    stream.end();
  });
}

function connections(host: ConsoleHost) {
  return [...host.connections].flatMap(([platform, held]) =>
    [...held].map(([name, s]) => ({ platform, type: host.adapters.get(platform)?.type ?? 'unknown', name, state: s.state, since: s.since, held: s.held, ...(s.lastError !== undefined && { lastError: s.lastError }) })),
  );
}

/** An outbox record as JSON: bytes shown as their size. */
function plainRecord(record: OutboxRecord): unknown {
  return JSON.parse(JSON.stringify(record, (_, value: unknown) => (value instanceof Uint8Array ? `[${value.byteLength} bytes]` : value)));
}
