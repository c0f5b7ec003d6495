// A server-sent events response (text/event-stream) kept open while the server has more to say.

import { PassThrough } from 'node:stream';
import type { Context } from 'koa';

/** One event: `event:` names it, `data:` is its JSON (one line: JSON.stringify escapes newlines). */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Answers `koa` with an event stream: write frames to the returned stream, end() closes the
 * response. A comment goes out every `heartbeatMs` so proxies and clients do not take a quiet
 * stream for a dead one; the stream is closed when the client goes.
 */
export function openSse(koa: Context, heartbeatMs = 15_000): PassThrough {
  koa.req.socket.setTimeout(0);
  koa.set({ 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  koa.type = 'text/event-stream';
  const stream = new PassThrough();
  stream.write(': connected\n\n');
  const heartbeat = setInterval(() => stream.write(': ping\n\n'), heartbeatMs);
  const stop = () => clearInterval(heartbeat);
  stream.once('close', stop);
  stream.once('finish', stop);
  koa.res.once('close', () => stream.end());
  koa.body = stream;
  return stream;
}
