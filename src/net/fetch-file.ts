// Bytes behind a platform's URL (a user's photo on its CDN, a file a bot names by URL), bounded
// in size and time: one implementation for every adapter, so none forgets a limit.

import type { Dispatcher } from 'undici';
import { fatal, PlatformError, rateLimited, retryable, retryAfterMs } from '../delivery/retry.js';
import type { MediaBody } from '../media/media.js';
import { undici } from './undici.js';

type Body = AsyncIterable<Buffer> & NodeJS.ReadableStream & { destroy(): void };

/** Reads a response body whole, giving up (and closing it) as soon as it passes `maxBytes`. */
export async function readBounded(body: Body, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) {
      discard(body);
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/** Drops a body we will not read. Destroying an undici body emits an AbortError, which must not go unhandled. */
function discard(body: NodeJS.ReadableStream & { destroy(): void }): void {
  body.on('error', () => {});
  body.destroy();
}

export interface FetchFileOptions {
  /** What the platform said the file is; used unless it is missing or generic, then the server's Content-Type is. */
  mime?: string;
  name?: string;
  /** The platform's proxy, if any. */
  dispatcher?: Dispatcher;
  headers?: Record<string, string>;
  maxBytes?: number;
  timeoutMs?: number;
  /** Names the thing in errors: "attachment", "photo"… */
  what?: string;
}

/**
 * Errors are PlatformErrors, so a send that needs the file is retried when trying again can help:
 * a dropped connection, a 5xx or a 429 from the CDN, but not a 404 or a file over the limit.
 */
export async function fetchFile(url: string, options: FetchFileOptions = {}): Promise<MediaBody> {
  const { dispatcher, headers, maxBytes = 20 * 1024 * 1024, timeoutMs = 15_000, what = 'file' } = options;
  const { request } = undici();
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, { dispatcher, headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  } catch (error) {
    throw new PlatformError(`${what} download failed: ${(error as Error).message}`, retryable);
  }
  const tooLarge = () => new PlatformError(`${what} is larger than ${maxBytes} bytes`, fatal);
  const status = response.statusCode;
  if (status !== 200) {
    await response.body.dump();
    const failure = status === 429 ? rateLimited(retryAfterMs(response.headers['retry-after'])) : status === 408 || status >= 500 ? retryable : fatal;
    throw new PlatformError(`${what} download failed with HTTP ${status}`, failure);
  }
  if (Number(response.headers['content-length']) > maxBytes) {
    discard(response.body);
    throw tooLarge();
  }
  let data: Buffer;
  try {
    data = await readBounded(response.body, maxBytes, tooLarge);
  } catch (error) {
    if (error instanceof PlatformError) throw error;
    throw new PlatformError(`${what} download failed: ${(error as Error).message}`, retryable);
  }
  const served = String(response.headers['content-type'] ?? '').split(';')[0]!.trim();
  const hint = options.mime;
  const mime = hint?.includes('/') && hint !== 'application/octet-stream' ? hint : served || hint || 'application/octet-stream';
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), mime, ...(options.name ? { name: options.name } : {}) };
}
