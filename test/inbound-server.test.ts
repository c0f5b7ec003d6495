// The HTTP server against clients that misbehave at the socket: malformed chunked bodies, uploads
// cut off halfway, and senders too slow to finish their headers or their body. Logs go through
// the operator's logger (createLogger), so these lines are what an operator reads.

import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/runtime/config.js';
import { createLogger } from '../src/runtime/logger.js';
import { definitions } from '../src/runtime/registry.js';
import { Runtime } from '../src/runtime/runtime.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { tempStorePath, waitFor, type LogLine } from './helpers.js';

const secret = 'hook-secret_SHOULD-NEVER-BE-LOGGED';

let runtime: Runtime | undefined;
let fake: FakeTelegram | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await runtime?.stop();
  await fake?.stop();
  runtime = fake = undefined;
});

/** A Telegram webhook platform behind the operator's own logger, at debug. */
async function start(server = '') {
  fake = new FakeTelegram();
  await fake.start();
  const yaml = `server: { host: 127.0.0.1, port: 0${server} }\nplatforms:\n  - { id: tg, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}", mode: webhook, secretToken: ${secret} }`;
  const config = parseConfig(yaml, { definitions, env: {}, source: 'test.yaml', baseDir: process.cwd() });
  config.store = { type: 'sqlite', path: tempStorePath(), sync: 'normal' };
  const lines: LogLine[] = [];
  const text: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text.push(chunk.toString());
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  runtime = await Runtime.create(config, { logger: createLogger('debug', stream) });
  await runtime.start();
  return { port: Number(new URL(runtime.url).port), lines, text };
}

interface Exchange {
  /** Everything the server wrote back. */
  answer: Promise<string>;
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
  socket: Socket;
}

function open(port: number): Exchange {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {});
  let out = '';
  socket.on('data', (chunk) => (out += chunk));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { socket, closed, answer: closed.then(() => out) };
}

const head = (extra: string) => `POST /webhooks/tg HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Telegram-Bot-Api-Secret-Token: ${secret}\r\n${extra}\r\n`;

/** The promise's value, or a failure naming the wait once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the server kept the connection open for ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Writes `text` a byte at a time, every `everyMs`, until the socket closes. */
function trickle(socket: Socket, text: string, everyMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= text.length) return clearInterval(timer);
    socket.write(text[at++]!);
  }, everyMs);
  socket.on('close', () => clearInterval(timer));
}

describe('server: requests broken at the socket', () => {
  it('logs a malformed chunked body as a warning with its code, never the bytes (whose headers hold the secret)', async () => {
    const { port, lines, text } = await start();
    const { socket, answer } = open(port);
    socket.write(`${head('Transfer-Encoding: chunked\r\n')}5\r\n{"upd\r\nZZZ\r\nnonsense\r\n\r\n`);
    expect(await answer).toMatch(/^HTTP\/1\.1 400 /);
    const line = await waitFor(() => lines.find((l) => l.msg.includes('malformed')), 3000, 'the log line');
    expect(line).toMatchObject({ level: 40, method: 'POST', path: '/webhooks/tg', code: 'HPE_INVALID_CHUNK_SIZE' });
    expect(line).not.toHaveProperty('err');
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    const all = text.join('');
    expect(all).not.toContain(secret);
    expect(all).not.toContain('rawPacket');
  });

  it('logs a client that hangs up mid-upload as a debug line, without a stack', async () => {
    const { port, lines, text } = await start();
    const { socket, closed } = open(port);
    // 30 of the 100 bytes announced, then the client hangs up.
    socket.end(`${head('Content-Length: 100\r\n')}{"update_id": 1, "message": {"`);
    await closed;
    const line = await waitFor(() => lines.find((l) => l.msg.includes('went away')), 3000, 'the log line');
    expect(line).toMatchObject({ level: 20, method: 'POST', path: '/webhooks/tg' });
    expect(line).not.toHaveProperty('err');
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
    expect(text.join('')).not.toContain(secret);
  });

  it('closes the connection of a chunked body that goes past server.bodyLimit, reading no more of it', async () => {
    const { port, lines } = await start(', bodyLimit: 1kb');
    const { socket, closed } = open(port);
    socket.write(`${head('Transfer-Encoding: chunked\r\n')}`);
    // 512 bytes a chunk, for as long as the connection stays open: only the server can end it.
    const chunk = `200\r\n${'x'.repeat(512)}\r\n`;
    const timer = setInterval(() => socket.destroyed || socket.write(chunk), 5);
    try {
      await within(closed, 3000);
    } finally {
      clearInterval(timer);
    }
    // Authenticated by its header, so it is consumed as delivered: the operator is told why.
    expect(lines.filter((l) => l.level >= 50).map((l) => (l as { err?: { message?: string } }).err?.message)).toEqual(['request body is larger than 1024 bytes']);
    expect(fake!.calls.filter((c) => c.method !== 'getMe')).toEqual([]);
  });

  it('never logs the bytes an error carries, whoever logs it', () => {
    const text: string[] = [];
    const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _enc, done) => (text.push(chunk.toString()), done()) }));
    const error = Object.assign(new Error('Parse Error'), { code: 'HPE_INVALID_CHUNK_SIZE', rawPacket: Buffer.from(`X-Telegram-Bot-Api-Secret-Token: ${secret}`) });
    logger.error({ err: error }, 'failed');
    const line = JSON.parse(text.join('')) as { err: Record<string, unknown> };
    expect(line.err).toMatchObject({ message: 'Parse Error', code: 'HPE_INVALID_CHUNK_SIZE' });
    expect(line.err).not.toHaveProperty('rawPacket');
    expect(text.join('')).not.toContain('[88,45');
    // Nested too: an AggregateError's errors are serialized with their own properties.
    text.length = 0;
    logger.error({ err: new AggregateError([error], 'every try failed') }, 'failed');
    const nested = JSON.parse(text.join('')) as { err: { message: string; aggregateErrors: Record<string, unknown>[] } };
    expect(nested.err.message).toBe('every try failed');
    expect(nested.err.aggregateErrors).toEqual([expect.objectContaining({ message: 'Parse Error', code: 'HPE_INVALID_CHUNK_SIZE' })]);
    expect(text.join('')).not.toContain('rawPacket');
  });
});

describe('server: slow clients', () => {
  it('cuts off a client still sending its headers after server.headersTimeout (408)', async () => {
    const { port } = await start(', headersTimeout: 400ms, requestTimeout: 5s');
    const { socket, answer } = open(port);
    const started = Date.now();
    socket.write('POST /webhooks/tg HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    trickle(socket, `X-Padding: ${'a'.repeat(200)}\r\n`, 50);
    const text = await within(answer, 5000);
    const elapsed = Date.now() - started;
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(elapsed).toBeGreaterThanOrEqual(350);
    // Node's own default would wait 60 s; a check every 100 ms keeps close to the 400 ms.
    expect(elapsed).toBeLessThan(2000);
  });

  it('cuts off a client still sending its body after server.requestTimeout', async () => {
    const { port, lines } = await start(', headersTimeout: 300ms, requestTimeout: 800ms');
    const { socket, answer } = open(port);
    const started = Date.now();
    socket.write(head('Content-Length: 500\r\n'));
    trickle(socket, `{"update_id": 1, "message": ${'x'.repeat(500)}`, 50);
    const text = await within(answer, 5000);
    const elapsed = Date.now() - started;
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(elapsed).toBeGreaterThanOrEqual(700);
    expect(elapsed).toBeLessThan(2500);
    expect(lines.find((l) => l.code === 'ERR_HTTP_REQUEST_TIMEOUT')).toMatchObject({ level: 20, msg: 'a slow client was cut off (server.requestTimeout)' });
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  it('keeps an idle kept-alive connection past headersTimeout, and answers its next request', async () => {
    const { port } = await start(', headersTimeout: 300ms, requestTimeout: 600ms');
    const { socket } = open(port);
    const answers: string[] = [];
    socket.on('data', (chunk) => answers.push(chunk.toString()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor(() => answers.join('').includes('\r\n\r\n{'), 2000, 'the first answer');
    await new Promise((r) => setTimeout(r, 1000));
    expect(socket.destroyed).toBe(false);
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor(() => answers.join('').split('HTTP/1.1 200').length === 3, 2000, 'the second answer');
  });

  it('refuses a headersTimeout longer than requestTimeout', () => {
    expect(() => parseConfig('server: { headersTimeout: 40s, requestTimeout: 30s }\nplatforms: [{ id: s, type: sandbox }]', { definitions, env: {}, source: 'x.yaml', baseDir: process.cwd() })).toThrow(/headersTimeout.*must not be longer than requestTimeout/s);
  });

  it('routes /webhooks/<id> to that platform alone: its route answers, a wrong method is 405, an unknown platform or route 404, other routes still served', async () => {
    const { port } = await start();
    const url = `http://127.0.0.1:${port}`;
    const update = JSON.stringify({ update_id: 1, message: { message_id: 1, date: 0, chat: { id: 7, type: 'private' }, from: { id: 7, is_bot: false, first_name: 'A' }, text: 'hi' } });
    const post = (path: string, headers: Record<string, string> = {}) => fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret, ...headers }, body: update });
    expect((await post('/webhooks/tg')).status).toBe(200);
    expect((await post('/webhooks/tg', { 'x-telegram-bot-api-secret-token': 'wrong' })).status).toBe(401);
    const get = await fetch(`${url}/webhooks/tg`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await post('/webhooks/nope')).status).toBe(404);
    expect((await post('/webhooks/tg/more')).status).toBe(404);
    expect((await post('/webhooks/')).status).toBe(404);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('takes a webhook whose request target is in absolute form, as a client sends it through a proxy', async () => {
    const { port } = await start();
    const body = JSON.stringify({ update_id: 5, message: { message_id: 5, date: 0, chat: { id: 7, type: 'private' }, from: { id: 7, is_bot: false, first_name: 'A' }, text: 'hi' } });
    const { socket, answer } = open(port);
    socket.end(`POST http://127.0.0.1:${port}/webhooks/tg HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Telegram-Bot-Api-Secret-Token: ${secret}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    expect(await within(answer, 5000)).toMatch(/^HTTP\/1\.1 200 /);
    await waitFor(() => fake!.sent().length === 1, 5000, 'the reply');
  });
});
