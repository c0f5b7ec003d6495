// The platforms' webhook routes, served without koa (src/inbound/webhooks.ts): what a platform
// reads back from a route (status, type, length, body), the routing answers, the 503 and its
// Retry-After, and how an authenticated request that fails is acknowledged.

import { createServer, request as httpRequest, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { authenticated, HttpError, readJson, unavailable } from '../src/inbound/http.js';
import { WebhookServer, webhookPrefix } from '../src/inbound/webhooks.js';
import { captureLogs } from './helpers.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

async function serve(webhooks: WebhookServer): Promise<number> {
  server = createServer((req, res) => (req.url!.startsWith(webhookPrefix) ? webhooks.serve(req, res, req.url!) : res.writeHead(418).end()));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request, answered as raw as node:http gives it (HEAD included). */
function send(port: number, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function setup(refusal: () => string | undefined = () => undefined) {
  const { logger, lines } = captureLogs();
  const webhooks = new WebhookServer({ logger, retryAfterSeconds: 7, refusal });
  return { webhooks, routes: webhooks.routes('bot'), logger, lines };
}

describe('webhook routes', () => {
  it('answers a string as UTF-8 text, an object as JSON, a type as given, each with its length; HEAD gets the headers alone', async () => {
    const { webhooks, routes } = setup();
    routes.get('/', () => ({ body: 'héllo' }));
    routes.post('/', () => ({ status: 202, body: { taken: true } }));
    routes.get('/xml', () => ({ type: 'text/xml', body: '<xml/>' }));
    const port = await serve(webhooks);

    const text = await send(port, 'GET', '/webhooks/bot');
    expect([text.status, text.headers['content-type'], text.headers['content-length'], text.body]).toEqual([200, 'text/plain; charset=utf-8', '6', 'héllo']);
    const json = await send(port, 'POST', '/webhooks/bot/', '{}');
    expect([json.status, json.headers['content-type'], json.body]).toEqual([202, 'application/json; charset=utf-8', '{"taken":true}']);
    const xml = await send(port, 'GET', '/webhooks/bot/xml');
    expect([xml.headers['content-type'], xml.body]).toEqual(['text/xml; charset=utf-8', '<xml/>']);
    const head = await send(port, 'HEAD', '/webhooks/bot');
    expect([head.status, head.headers['content-length'], head.body]).toEqual([200, '6', '']);
  });

  it('reads headers and the query string as sent', async () => {
    const { webhooks, routes } = setup();
    routes.post('/', async (request) => ({ body: { sign: request.query('Sign'), empty: request.query('empty'), none: request.query('none') ?? null, token: request.header('x-token') ?? null, missing: request.header('x-missing') ?? null, path: request.path, got: await readJson(request.raw, 100) } }));
    const port = await serve(webhooks);
    const answer = await send(port, 'POST', '/webhooks/bot?Sign=a%2Bb+c&empty=&Sign=second', '{"n":1}', { 'X-Token': 't' });
    expect(JSON.parse(answer.body)).toEqual({ sign: 'a+b c', empty: '', none: null, token: 't', missing: null, path: '/', got: { n: 1 } });
  });

  it('answers an unknown platform or route 404, a method the route lacks 405 with Allow, OPTIONS 200 with Allow', async () => {
    const { webhooks, routes } = setup();
    routes.get('/', () => ({ body: 'check' }));
    routes.post('/', () => ({ body: 'ok' }));
    webhooks.routes('quiet'); // a platform that mounted nothing (polling)
    const port = await serve(webhooks);

    for (const path of ['/webhooks/nope', '/webhooks/', '/webhooks/bot/more', '/webhooks/quiet']) expect([path, (await send(port, 'POST', path)).status]).toEqual([path, 404]);
    const put = await send(port, 'PUT', '/webhooks/bot', 'x');
    expect([put.status, put.headers.allow]).toEqual([405, 'HEAD, GET, POST']);
    expect(JSON.parse(put.body)).toEqual({ error: 'PUT is not allowed here (HEAD, GET, POST)' });
    const options = await send(port, 'OPTIONS', '/webhooks/bot');
    expect([options.status, options.headers.allow, options.body]).toEqual([200, 'HEAD, GET, POST', '']);
  });

  it('answers 503 with Retry-After while no webhook can be taken, and when a handler says unavailable()', async () => {
    let refusal: string | undefined = 'shutting down';
    const { webhooks, routes } = setup(() => refusal);
    let handled = 0;
    routes.post('/', () => {
      handled++;
      throw unavailable('cannot take it now');
    });
    const port = await serve(webhooks);

    const refused = await send(port, 'POST', '/webhooks/bot', '{}');
    expect([refused.status, refused.headers['retry-after'], refused.body, handled]).toEqual([503, '7', '{"error":"shutting down"}', 0]);
    refusal = undefined;
    const unavailableAnswer = await send(port, 'POST', '/webhooks/bot', '{}');
    expect([unavailableAnswer.status, unavailableAnswer.headers['retry-after'], unavailableAnswer.body, handled]).toEqual([503, '7', '{"error":"cannot take it now"}', 1]);
  });

  it('acknowledges an authenticated request that cannot be read, logging it; a refusal or a 503 stays one, whenever it comes', async () => {
    const { webhooks, routes, logger, lines } = setup();
    const ack = { body: 'ok', type: 'text/plain' };
    routes.post('/', async (request) => {
      authenticated(request, { logger, ack });
      const body = (await readJson(request.raw, 100)) as { fail?: string };
      if (body.fail === '401') throw new HttpError(401, 'not yours');
      if (body.fail === '503') throw unavailable('later');
      if (body.fail === 'sync') throw new Error('the adapter tripped');
      return { body: 'handled' };
    });
    routes.get('/', () => {
      throw new Error('a bug before any check');
    });
    const port = await serve(webhooks);

    const unreadable = await send(port, 'POST', '/webhooks/bot', 'not json');
    expect([unreadable.status, unreadable.headers['content-type'], unreadable.body]).toEqual([200, 'text/plain; charset=utf-8', 'ok']);
    const tooBig = await send(port, 'POST', '/webhooks/bot', `"${'x'.repeat(200)}"`);
    expect([tooBig.status, tooBig.body]).toEqual([200, 'ok']);
    expect((await send(port, 'POST', '/webhooks/bot', '{"fail":"sync"}')).body).toBe('ok');
    expect(lines.filter((l) => l.msg.startsWith('an authenticated request could not be read'))).toHaveLength(3);
    expect((await send(port, 'POST', '/webhooks/bot', '{"fail":"401"}')).status).toBe(401);
    expect((await send(port, 'POST', '/webhooks/bot', '{"fail":"503"}')).status).toBe(503);
    expect((await send(port, 'POST', '/webhooks/bot', '{}')).body).toBe('handled');

    // An answer that cannot be written is a 500 of ours (logged), not a request left hanging or an unhandled rejection.
    routes.post('/odd', async () => ({ body: { count: 1n } }));
    const odd = await send(port, 'POST', '/webhooks/bot/odd', '{}');
    expect([odd.status, odd.body]).toEqual([500, '{"error":"internal error"}']);
    expect(lines.filter((l) => l.msg === 'http error' && l.path === '/webhooks/bot/odd')).toHaveLength(1);
    // Authenticated, the same is acknowledged (the platform would deliver it again and again); an ack that cannot be written is a 500.
    routes.post('/odd-authenticated', (request) => {
      authenticated(request, { logger, ack });
      return { body: { count: 1n } };
    });
    routes.post('/odd-ack', (request) => {
      authenticated(request, { logger, ack: { body: { count: 1n } } });
      throw new HttpError(400, 'unreadable');
    });
    expect((await send(port, 'POST', '/webhooks/bot/odd-authenticated', '{}')).body).toBe('ok');
    expect((await send(port, 'POST', '/webhooks/bot/odd-ack', '{}')).status).toBe(500);

    // Not authenticated: a failure of ours is a 500, logged with where it happened but never the query.
    const bug = await send(port, 'GET', '/webhooks/bot?Sign=secret-value');
    expect([bug.status, bug.body]).toEqual([500, '{"error":"internal error"}']);
    const logged = lines.find((l) => l.msg === 'http error' && l.path === '/webhooks/bot');
    expect(logged).toMatchObject({ level: 50, method: 'GET', path: '/webhooks/bot' });
    expect(JSON.stringify(lines)).not.toContain('secret-value');
  });
});
