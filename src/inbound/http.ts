// What the server's routes share: bounded body reads, clear 4xx answers, the acknowledgement of an
// authenticated webhook request that cannot be read, and telling a client's own faults from ours
// (logged once, without the bytes it sent).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../runtime/logger.js';
import { parseReceived } from '../store/codec.js';

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

/** The body of every error answer the server writes: `{"error": "…"}`, what went wrong in words. */
export function errorBody(message: string): string {
  return JSON.stringify({ error: message });
}

/**
 * Reads the raw body, refusing anything over `limit` bytes with 413 (before reading it, when
 * Content-Length says so). On the stream's events rather than its async iterator: one promise a
 * request instead of one a chunk, on the hot path of every webhook.
 */
export function readRawBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] || Number.NaN);
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

/** Reads and parses a JSON body: 413 when too large, 400 when it is not JSON. The text is kept for the journal (store/codec.ts, parseReceived). */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const raw = await readRawBody(req, limit);
  try {
    return parseReceived(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

/** How an authenticated request that cannot be read is answered; see authenticated(). */
export interface Consume {
  /** The adapter's logger: the line names the platform. */
  logger: Logger;
  /** The platform's own acknowledgement, answered with a 200: what it counts as delivered. */
  ack: { body: string | Buffer | object; type?: string };
}

/** A request that may be marked authenticated (a webhook's). */
export interface Unreadable {
  consume: Consume | undefined;
}

/**
 * Marks a webhook request as authenticated. From here on, a failure to read it (a malformed or
 * oversized payload, an adapter tripping over a shape it did not expect) is logged and answered
 * with the platform's `ack`: a platform delivers anything else again, and an event that cannot
 * be read fails the same way every time. A 503 (`unavailable()`) still asks for the event again,
 * a refusal (401, 403) stays one, and a client that went away is not answered at all.
 */
export function authenticated(request: Unreadable, consume: Consume): void {
  request.consume = consume;
}

/** Whether a failure of this request is answered with its platform's ack (see authenticated()), and logs it when so; false when the failure takes its usual course. */
export function consumeUnreadable(request: Unreadable, error: unknown): boolean {
  const consume = request.consume;
  if (!consume || clientFault(error) !== undefined) return false;
  if (error instanceof HttpError && (error.status === 401 || error.status === 403 || error.status === 503)) return false;
  consume.logger.error({ err: error }, 'an authenticated request could not be read; answered as delivered, so the platform does not send it again');
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

/** Failures a client caused are not our errors: none is logged with a stack, or with the bytes it sent (they carry its secrets). */
export function logError(logger: Logger, error: Error & { status?: number; reason?: unknown }, where: { method: string; path: string } | undefined): void {
  const code = (error as { code?: unknown }).code;
  switch (clientFault(error)) {
    case 'gone':
      return void logger.debug({ ...where, code }, 'the client went away before the request was done');
    case 'slow':
      return void logger.debug({ ...where, code }, 'a slow client was cut off (server.requestTimeout)');
    case 'malformed':
      return void logger.warn({ ...where, code, reason: error.reason }, 'refused a malformed HTTP request (400)');
  }
  if (!error.status || error.status >= 500) logger.error({ ...where, err: error }, 'http error');
}

/** A request for a log line: its method and path, never its query (which may carry a signature), whatever form its target has. */
export function where(req: IncomingMessage): { method: string; path: string } {
  let path: string;
  try {
    path = new URL(req.url!, 'http://localhost').pathname;
  } catch {
    path = '(unreadable)';
  }
  return { method: req.method!, path };
}

/** What Node itself answers a connection whose request broke at the socket, by the error's code (node's _http_server.js). */
const brokenAnswers: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n',
  ERR_HTTP_REQUEST_TIMEOUT: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
};
const badRequest = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';

/**
 * The server's `clientError` listener: a request broken at the socket (bytes that are not HTTP,
 * a client too slow, a reset) is logged once, here, naming the request under way when there is
 * one, and answered as Node would (400, 408, 431 or nothing when the client is gone). The socket
 * is closed without an error, so no route's own listeners log it a second time.
 */
export function onClientError(logger: Logger): (error: Error, socket: Duplex) => void {
  return (error, socket) => {
    // The answer Node assigned to this socket, and its request: read only here, on a broken connection.
    const req = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage?.req;
    logError(logger, error, req && where(req));
    if (socket.writable && (socket as Duplex & { bytesWritten?: number }).bytesWritten === 0) socket.write(brokenAnswers[(error as { code?: string }).code ?? ''] ?? badRequest);
    socket.destroy();
  };
}
