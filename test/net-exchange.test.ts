// src/net/exchange.ts on the wire: the request as a server sees it, an answer in several chunks
// gathered whole, and the bound on a server that never answers.

import { createServer, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { AnswerTooLarge, exchange, ExchangeTimeout } from '../src/net/exchange.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function serve(answer: (res: ServerResponse, body: string) => void, seen: string[] = []): Promise<string> {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${req.headers['content-type']} ${Buffer.concat(chunks).toString('utf8')}`);
      answer(res, Buffer.concat(chunks).toString('utf8'));
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe('exchange', () => {
  it('sends the method, path, headers and body, and gathers an answer written in several chunks', async () => {
    const seen: string[] = [];
    const origin = await serve((res) => {
      res.writeHead(201, { 'content-type': 'text/plain' });
      res.write('one,');
      setImmediate(() => {
        res.write('two,');
        setImmediate(() => res.end('three'));
      });
    }, seen);
    const answer = await exchange(undefined, { origin, path: '/api/x?y=1', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}', timeoutMs: 5000 });
    expect(answer.status).toBe(201);
    expect(answer.body.toString('utf8')).toBe('one,two,three');
    const names = answer.rawHeaders.filter((_, i) => i % 2 === 0).map(String);
    expect(names).toContain('content-type');
    expect(String(answer.rawHeaders[names.indexOf('content-type') * 2 + 1])).toBe('text/plain');
    expect(seen).toEqual(['POST /api/x?y=1 application/json {"a":1}']);
  });

  it('gives an empty body for an answer without one', async () => {
    const origin = await serve((res) => res.writeHead(204).end());
    const answer = await exchange(undefined, { origin, path: '/', method: 'GET', timeoutMs: 5000 });
    expect(answer.status).toBe(204);
    expect(answer.body).toEqual(Buffer.alloc(0));
  });

  it('rejects an answer whose body grows past maxBytes, and keeps no more of it', async () => {
    const origin = await serve((res) => {
      res.writeHead(200);
      res.write(Buffer.alloc(600, 'a'));
      setImmediate(() => res.end(Buffer.alloc(600, 'b')));
    });
    await expect(exchange(undefined, { origin, path: '/', method: 'GET', timeoutMs: 5000, maxBytes: 1000 })).rejects.toThrow("the answer's body is over 1000 bytes");
    // The connection it was cut on is not reused for a garbled next answer.
    expect((await exchange(undefined, { origin, path: '/', method: 'GET', timeoutMs: 5000 })).body.length).toBe(1200);
  });

  it('refuses an answer whose Content-Length is past maxBytes before reading its body', async () => {
    let written = 0;
    const origin = await serve((res) => {
      res.writeHead(200, { 'content-length': 5000 });
      // Written slowly: had the exchange read on, it would wait for all of it.
      const more = () => {
        if (res.destroyed || written >= 5000) return;
        written += 500;
        res.write(Buffer.alloc(500, 'x'), () => setTimeout(more, 20));
      };
      more();
    });
    const refused = exchange(undefined, { origin, path: '/', method: 'GET', timeoutMs: 5000, maxBytes: 1000 });
    await expect(refused).rejects.toBeInstanceOf(AnswerTooLarge);
    await expect(refused).rejects.toMatchObject({ declared: 5000, limit: 1000, message: "the answer's body of 5000 bytes is over 1000 bytes" });
    expect(written).toBeLessThan(5000);
  });

  it('ends at deadlineMs however the answer trickles in, and when its signal aborts, with the signal\'s reason', async () => {
    const origin = await serve((res) => {
      res.writeHead(200);
      const tick = setInterval(() => res.write('.'), 20); // never a gap long enough for timeoutMs
      res.on('close', () => clearInterval(tick));
    });
    const started = performance.now();
    await expect(exchange(undefined, { origin, path: '/', method: 'GET', timeoutMs: 1000, deadlineMs: 150 })).rejects.toBeInstanceOf(ExchangeTimeout);
    expect(performance.now() - started).toBeLessThan(1000);
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const aborted = exchange(undefined, { origin, path: '/', method: 'GET', timeoutMs: 1000, signal: controller.signal });
    setTimeout(() => controller.abort(reason), 50);
    await expect(aborted).rejects.toBe(reason);
    await expect(exchange(undefined, { origin, path: '/', method: 'GET', timeoutMs: 1000, signal: controller.signal })).rejects.toBe(reason);
  });

  it('rejects when no headers come within timeoutMs', async () => {
    const origin = await serve(() => {}); // never answers
    await expect(exchange(undefined, { origin, path: '/', method: 'POST', body: 'x', timeoutMs: 100 })).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
  });
});
