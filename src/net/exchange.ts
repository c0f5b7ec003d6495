// One HTTP request whose whole answer is wanted at once (a platform API's JSON, a callback's
// reply), on undici's dispatcher directly: the answer's chunks are gathered as they come. undici's
// request() wraps every answer in a Readable stream and reads it back out through it; on a reply's
// hot path that stream was most of the call's cost (the Telegram echo: about 24 µs of CPU a
// message, 13%).

import type { Dispatcher } from 'undici';
import { undici } from './undici.js';

export interface Exchange {
  /** scheme://host[:port] */
  origin: string;
  /** The path and query, from the origin's root. */
  path: string;
  method: Dispatcher.HttpMethod;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Bounds the wait for the answer's headers, and each wait between its body's chunks. */
  timeoutMs: number;
  /** Bounds the whole exchange, from now to the answer's last byte: past it, an ExchangeTimeout. */
  deadlineMs?: number;
  /** Ends the exchange when it aborts, with its reason as the error. A signal many exchanges share at once wants setMaxListeners(0, signal). */
  signal?: AbortSignal;
  /**
   * The answer's body past this many bytes ends the exchange with an AnswerTooLarge (default 16
   * MiB), before any of it is read when its Content-Length says so: what is kept in memory is bounded.
   */
  maxBytes?: number;
}

const defaultMaxBytes = 16 * 1024 * 1024;

export interface Answer {
  status: number;
  /** As received: name, value, name, value… (undici's util.parseHeaders reads them into an object). */
  rawHeaders: Buffer[];
  body: Buffer;
}

/** The answer's body is longer than the exchange's maxBytes. */
export class AnswerTooLarge extends Error {
  override readonly name = 'AnswerTooLarge';
  constructor(
    readonly limit: number,
    /** What its Content-Length said, when it said so before the body was read. */
    readonly declared?: number,
  ) {
    super(declared === undefined ? `the answer's body is over ${limit} bytes` : `the answer's body of ${declared} bytes is over ${limit} bytes`);
  }
}

/** No whole answer within the exchange's deadlineMs. */
export class ExchangeTimeout extends Error {
  override readonly name = 'ExchangeTimeout';
  constructor(readonly ms: number) {
    super(`no whole answer within ${ms} ms`);
  }
}

/**
 * Sends `request` through `dispatcher` (undefined: undici's global one, a direct connection) and
 * settles with the status, headers and whole body; rejects with undici's error when no answer came
 * whole (refused, reset, timed out), an AnswerTooLarge, an ExchangeTimeout, or the signal's reason.
 */
export function exchange(dispatcher: Dispatcher | undefined, request: Exchange): Promise<Answer> {
  const { origin, path, method, headers, body, timeoutMs, deadlineMs, signal, maxBytes = defaultMaxBytes } = request;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    let status = 0;
    let rawHeaders: Buffer[] = [];
    let size = 0;
    const chunks: Buffer[] = [];
    let abortExchange: ((reason: Error) => void) | undefined;
    /** Why it was ended before undici connected, to end it with as soon as it does. */
    let endedEarly: Error | undefined;
    const end = (reason: Error) => (abortExchange ? abortExchange(reason) : (endedEarly ??= reason));
    const timer = deadlineMs === undefined ? undefined : setTimeout(() => end(new ExchangeTimeout(deadlineMs)), deadlineMs);
    const onAbort = () => end(signal!.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });
    const settled = () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const handler = {
      onConnect: (abort: (reason: Error) => void) => {
        abortExchange = abort;
        if (endedEarly) abort(endedEarly);
      },
      onHeaders: (statusCode: number, raw: Buffer[]) => {
        status = statusCode;
        rawHeaders = raw;
        const declared = contentLength(raw);
        if (declared > maxBytes) {
          end(new AnswerTooLarge(maxBytes, declared));
          return false;
        }
        return true;
      },
      onData: (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          end(new AnswerTooLarge(maxBytes));
          return false;
        }
        chunks.push(chunk);
        return true;
      },
      onComplete: () => {
        settled();
        resolve({ status, rawHeaders, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
      },
      onError: (error: Error) => {
        settled();
        reject(error);
      },
    };
    try {
      (dispatcher ?? undici().getGlobalDispatcher()).dispatch({ origin, path, method, headers, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }, handler);
    } catch (error) {
      handler.onError(error as Error);
    }
  });
}

/** Where `url` is sent, as undici's request() reads it: its origin, then its path and query (its userinfo is not sent). */
export function targetOf(url: URL): Pick<Exchange, 'origin' | 'path'> {
  return { origin: url.origin, path: `${url.pathname}${url.search}` };
}

/** The answer's headers by lower-cased name, as undici's request() gives them (a repeated one as a list). */
export function headersOf(answer: Answer): Record<string, string | string[] | undefined> {
  return undici().util.parseHeaders(answer.rawHeaders) as Record<string, string | string[] | undefined>;
}

/** The Content-Length among raw headers; NaN when there is none. */
function contentLength(raw: Buffer[]): number {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 14 && name.toString('latin1').toLowerCase() === 'content-length') return Number(raw[i + 1]!.toString('latin1'));
  }
  return Number.NaN;
}
