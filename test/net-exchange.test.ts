// src/net/exchange.ts on the wire: the request as a server sees it, an answer in several chunks
// gathered whole, and the bound on a server that never answers.

import { createServer, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange } from '../src/net/exchange.js';

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
    expect(seen).toEqual(['POST /api/x?y=1 application/json {"a":1}']);
  });

  it('gives an empty body for an answer without one', async () => {
    const origin = await serve((res) => res.writeHead(204).end());
    const answer = await exchange(undefined, { origin, path: '/', method: 'GET', timeoutMs: 5000 });
    expect(answer).toEqual({ status: 204, body: Buffer.alloc(0) });
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

  it('rejects when no headers come within timeoutMs', async () => {
    const origin = await serve(() => {}); // never answers
    await expect(exchange(undefined, { origin, path: '/', method: 'POST', body: 'x', timeoutMs: 100 })).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
  });
});
