// The reply path's own Bot API call (adapters/telegram/api.ts), on the wire: what a server
// receives, and how each kind of answer comes back, as the library's error classes that
// adapters/telegram/errors.ts reads into the core's retry policy. The token is in the URL only.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { NetworkError, ParseError, TelegramApiError } from 'node-telegram-bot-api';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonBotApi } from '../adapters/telegram/api.js';
import { classify } from '../adapters/telegram/errors.js';
import { fatal, rateLimited, retryable } from '../src/delivery/retry.js';
import { freePort } from './redis.js';

const token = '123456:SECRET-token-never-shown';

interface Received {
  method: string | undefined;
  url: string | undefined;
  contentType: string | undefined;
  body: unknown;
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

/** A Bot API stand-in answering every call with `answer`; what it received is pushed to the list. */
async function botApi(answer: (res: ServerResponse) => void): Promise<{ api: JsonBotApi; received: Received[] }> {
  const received: Received[] = [];
  server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, contentType: req.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      answer(res);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { api: new JsonBotApi(`http://127.0.0.1:${port}/`, token, undefined, 5000), received };
}

const json = (status: number, body: object) => (res: ServerResponse) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

async function failure(call: Promise<unknown>): Promise<Error> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message).not.toContain(token);
  return error as Error;
}

describe('the reply path\'s sendMessage', () => {
  it('POSTs the parameters as JSON to /bot<token>/sendMessage and returns the message Telegram made', async () => {
    const { api, received } = await botApi(json(200, { ok: true, result: { message_id: 42, date: 1, chat: { id: 7, type: 'private' } } }));
    const sent = await api.sendMessage({ chat_id: '7', text: '<b>hi</b>', parse_mode: 'HTML', reply_parameters: { message_id: 3, allow_sending_without_reply: true }, message_thread_id: undefined });
    expect(sent.message_id).toBe(42);
    expect(received).toEqual([
      { method: 'POST', url: `/bot${token}/sendMessage`, contentType: 'application/json', body: { chat_id: '7', text: '<b>hi</b>', parse_mode: 'HTML', reply_parameters: { message_id: 3, allow_sending_without_reply: true } } },
    ]);
  });

  it('reads a refusal as the library does: 429 waits retry_after, 400 is final, a 5xx with its envelope is tried again', async () => {
    let next = json(429, { ok: false, error_code: 429, description: 'Too Many Requests: retry after 3', parameters: { retry_after: 3 } });
    const { api } = await botApi((res) => next(res));
    const limited = await failure(api.sendMessage({ chat_id: '7', text: 'x' }));
    expect(limited).toBeInstanceOf(TelegramApiError);
    expect((limited as TelegramApiError).retryAfter).toBe(3);
    expect(classify(limited)).toEqual(rateLimited(3000));

    next = json(400, { ok: false, error_code: 400, description: 'Bad Request: chat not found' });
    const refused = await failure(api.sendMessage({ chat_id: '7', text: 'x' }));
    expect(refused).toMatchObject({ errorCode: 400, description: 'Bad Request: chat not found' });
    expect(classify(refused)).toBe(fatal);

    next = json(502, { ok: false, error_code: 502, description: 'Bad Gateway' });
    expect(classify(await failure(api.sendMessage({ chat_id: '7', text: 'x' })))).toBe(retryable);
  });

  it('a 5xx page that is not JSON is a NetworkError; a 200 that is not JSON a ParseError', async () => {
    let next = (res: ServerResponse) => res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>');
    const { api } = await botApi((res) => next(res));
    expect(await failure(api.sendMessage({ chat_id: '7', text: 'x' }))).toBeInstanceOf(NetworkError);
    next = (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('not json');
    expect(await failure(api.sendMessage({ chat_id: '7', text: 'x' }))).toBeInstanceOf(ParseError);
  });

  it('a connection refused before anything was sent is a NetworkError the core tries again', async () => {
    const port = await freePort();
    const api = new JsonBotApi(`http://127.0.0.1:${port}`, token, undefined, 5000);
    const refused = await failure(api.sendMessage({ chat_id: '7', text: 'x' }));
    expect(refused).toBeInstanceOf(NetworkError);
    expect(classify(refused)).toBe(retryable);
  });
});
