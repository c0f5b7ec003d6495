// The fetch the Telegram adapter gives node-telegram-bot-api (src/net/proxy.ts): what the library
// sends arrives as sent, the answer reads as fetch's would, and a call whose answer never comes
// fails at the fetch's own timeout, classified as possibly delivered (never retried).

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Api, NetworkError } from 'node-telegram-bot-api';
import { afterEach, describe, expect, it } from 'vitest';
import { classify } from '../adapters/telegram/errors.js';
import { fatal } from '../src/delivery/retry.js';
import { lightFetch } from '../src/net/proxy.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function listen(handle: (req: IncomingMessage, body: string, answer: (status: number, body: string, headers?: Record<string, string>) => void) => void): Promise<string> {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => handle(req, body, (status, text, headers = {}) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(text)));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server!.address() as { port: number }).port}`;
}

describe('lightFetch', () => {
  it('sends the method, headers and body it is given, and answers with status, headers and body', async () => {
    let seen: { method?: string; type?: string; extra?: string; body?: string } = {};
    const url = await listen((req, body, answer) => {
      seen = { method: req.method, type: req.headers['content-type'], extra: String(req.headers['x-extra']), body };
      answer(201, '{"ok":true}', { 'x-answer': 'yes', 'set-cookie': 'a=1' });
    });
    const fetch = lightFetch();
    for (const headers of [{ 'content-type': 'text/plain', 'x-extra': 'one' }, new Headers({ 'content-type': 'text/plain', 'x-extra': 'one' }), [['content-type', 'text/plain'], ['x-extra', 'one']] as [string, string][]]) {
      const response = await fetch(`${url}/path`, { method: 'PUT', headers, body: 'hello' });
      expect(seen).toEqual({ method: 'PUT', type: 'text/plain', extra: 'one', body: 'hello' });
      expect(response.status).toBe(201);
      expect(response.ok).toBe(true);
      expect(response.headers.get('x-answer')).toBe('yes');
      expect(await response.json()).toEqual({ ok: true });
    }
  });

  it('keeps the query, reads the answer as text or bytes, and streams a body given as a stream (an upload)', async () => {
    const seen: string[] = [];
    const url = await listen((req, body, answer) => {
      seen.push(`${req.method} ${req.url} ${body}`);
      answer(200, body === '' ? 'plain ünïcode' : `got ${body.length}`, { 'content-type': 'text/plain' });
    });
    const fetch = lightFetch();
    const got = await fetch(`${url}/file?id=7&x=y`);
    expect(await got.text()).toBe('plain ünïcode');
    const bytes = await (await fetch(`${url}/file?id=8`)).arrayBuffer();
    expect(Buffer.from(bytes).toString('utf8')).toBe('plain ünïcode');
    const upload = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(3000).fill(97));
        controller.enqueue(new Uint8Array(2000).fill(98));
        controller.close();
      },
    });
    const uploaded = await fetch(`${url}/upload`, { method: 'POST', body: upload, duplex: 'half' } as RequestInit);
    expect(await uploaded.text()).toBe('got 5000');
    expect(seen.map((line) => line.slice(0, 30))).toEqual(['GET /file?id=7&x=y ', 'GET /file?id=8 ', `POST /upload ${'a'.repeat(17)}`]);
  });

  it('fails a call whose answer does not come within timeoutMs; the Telegram adapter keeps such a send instead of trying it twice', async () => {
    const url = await listen(() => {}); // never answers
    const api = new Api('123:abc', { apiRoot: url, maxRetries: 0, timeoutMs: 0, fetch: lightFetch(undefined, { timeoutMs: 300 }) });
    const asked = Date.now();
    const error = await api.sendMessage({ chat_id: 1, text: 'hi' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(Date.now() - asked).toBeGreaterThanOrEqual(250);
    expect(Date.now() - asked).toBeLessThan(5000);
    expect(error).toBeInstanceOf(NetworkError);
    expect(classify(error)).toEqual(fatal);
  });
});
