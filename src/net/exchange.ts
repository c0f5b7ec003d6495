// One HTTP request whose whole answer is wanted at once (a platform API's JSON), on undici's
// dispatcher directly: the answer's chunks are gathered as they come. undici's request() wraps
// every answer in a Readable stream and reads it back out through it; on a reply's hot path that
// stream was most of the call's cost (the Telegram echo: about 24 µs of CPU a message, 13%).

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
  /** The answer's body past this many bytes ends the exchange with an error (default 16 MiB): what is kept in memory is bounded. */
  maxBytes?: number;
}

const defaultMaxBytes = 16 * 1024 * 1024;

export interface Answer {
  status: number;
  body: Buffer;
}

/**
 * Sends `request` through `dispatcher` (undefined: undici's global one, a direct connection) and
 * settles with the status and the whole body; rejects with undici's error when no answer came
 * whole (refused, reset, timed out), or when the body grew past `maxBytes`.
 */
export function exchange(dispatcher: Dispatcher | undefined, request: Exchange): Promise<Answer> {
  const { origin, path, method, headers, body, timeoutMs, maxBytes = defaultMaxBytes } = request;
  return new Promise((resolve, reject) => {
    let status = 0;
    let size = 0;
    const chunks: Buffer[] = [];
    let abort: (reason: Error) => void = () => {};
    (dispatcher ?? undici().getGlobalDispatcher()).dispatch(
      { origin, path, method, headers, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs },
      {
        onConnect: (abortExchange: (reason: Error) => void) => {
          abort = abortExchange;
        },
        onHeaders: (statusCode: number) => {
          status = statusCode;
          return true;
        },
        onData: (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            abort(new Error(`the answer's body is over ${maxBytes} bytes`));
            return false;
          }
          chunks.push(chunk);
          return true;
        },
        onComplete: () => resolve({ status, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) }),
        onError: reject,
      },
    );
  });
}
