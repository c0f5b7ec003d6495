// What every webhook route shares: bounded body reads, clear 4xx answers, the acknowledgement of an
// authenticated request that cannot be read, and telling a client's own faults from ours.

import type { Context } from 'koa';
import type { Logger } from '../runtime/logger.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Switchboard cannot take this work now (shutting down, the store cannot record it): the
 * platform should deliver it again. The server answers 503 with the configured Retry-After.
 */
export function unavailable(reason: string): HttpError {
  return new HttpError(503, reason);
}

/**
 * Reads the raw body, refusing anything over `limit` bytes with 413 (before reading it, when
 * Content-Length says so). On the stream's events rather than its async iterator: one promise a
 * request instead of one a chunk, on the hot path of every webhook.
 */
export function readRawBody(ctx: Context, limit: number): Promise<Buffer> {
  const req = ctx.req;
  const declared = Number(ctx.get('content-length') || Number.NaN);
  if (declared > limit) {
    req.resume();
    return Promise.reject(new HttpError(413, `request body is larger than ${limit} bytes`));
  }
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise<Buffer>((resolve, reject) => {
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let size = 0;
    const settle = (error?: Error) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', settle);
      req.off('close', onClose);
      if (!error) return resolve(chunks ? Buffer.concat(chunks, size) : (first ?? Buffer.alloc(0)));
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        settle(new HttpError(413, `request body is larger than ${limit} bytes`));
        // No Content-Length said so up front (a chunked body): the rest is not read, the connection goes.
        req.destroy();
        return;
      }
      if (first === undefined) first = chunk;
      else (chunks ??= [first]).push(chunk);
    };
    const onEnd = () => settle();
    // Closed before its end: the client went away mid-body (as the stream's iterator would report it).
    const onClose = () => settle(Object.assign(new Error('the request was closed before its body ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', settle);
    req.once('close', onClose);
  });
}

/** Reads and parses a JSON body: 413 when too large, 400 when it is not JSON. */
export async function readJson(ctx: Context, limit: number): Promise<unknown> {
  const raw = await readRawBody(ctx, limit);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

/** How an authenticated request that cannot be read is answered; see authenticated(). */
export interface Consume {
  /** The adapter's logger: the line names the platform. */
  logger: Logger;
  /** The platform's own acknowledgement, answered with a 200: what it counts as delivered. */
  ack: { body: unknown; type?: string };
}

const consumeKey = Symbol('authenticated');

/**
 * Marks a webhook request as authenticated. From here on, a failure to read it (a malformed or
 * oversized payload, an adapter tripping over a shape it did not expect) is logged and answered
 * with the platform's `ack`: a platform delivers anything else again, and an event that cannot
 * be read fails the same way every time. A 503 (`unavailable()`) still asks for the event again,
 * a refusal (401, 403) stays one, and a client that went away is not answered at all.
 */
export function authenticated(koa: Context, consume: Consume): void {
  (koa.state as Record<symbol, Consume>)[consumeKey] = consume;
}

/** Answers an authenticated request that failed as delivered (see authenticated()); false when the failure takes its usual course. */
export function consumeUnreadable(koa: Context, error: unknown): boolean {
  const consume = (koa.state as Record<symbol, Consume | undefined>)[consumeKey];
  if (!consume || clientFault(error) !== undefined) return false;
  if (error instanceof HttpError && (error.status === 401 || error.status === 403 || error.status === 503)) return false;
  consume.logger.error({ err: error }, 'an authenticated request could not be read; answered as delivered, so the platform does not send it again');
  koa.status = 200;
  if (consume.ack.type) koa.type = consume.ack.type;
  koa.body = consume.ack.body;
  return true;
}

/**
 * A request the client broke, as Node reports it: `gone` (it hung up or reset mid-request),
 * `slow` (cut off by server.requestTimeout), `malformed` (bytes that are not HTTP, such as a bad
 * chunk size); undefined for anything else.
 */
export function clientFault(error: unknown): 'gone' | 'slow' | 'malformed' | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'HPE_INVALID_EOF_STATE') return 'gone';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'slow';
  if (typeof code === 'string' && code.startsWith('HPE_')) return 'malformed';
  return undefined;
}
