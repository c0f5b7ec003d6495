// Bytes behind a URL (a user's photo on VK's CDN, an image a bot names by URL), bounded in size and time.

import { request, type Dispatcher } from 'undici';
import type { MediaBody } from '../../src/media.js';

export interface FetchOptions {
  dispatcher?: Dispatcher;
  maxBytes?: number;
  timeoutMs?: number;
}

export async function fetchFile(url: string, mime: string, name: string | undefined, options: FetchOptions = {}): Promise<MediaBody> {
  const { dispatcher, maxBytes = 50 * 1024 * 1024, timeoutMs = 30_000 } = options;
  const response = await request(url, { dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const tooLarge = () => new Error(`file is larger than ${maxBytes} bytes`);
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw new Error(`file download failed with HTTP ${response.statusCode}`);
  }
  if (Number(response.headers['content-length']) > maxBytes) {
    response.body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    if ((size += chunk.length) > maxBytes) {
      response.body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  const served = String(response.headers['content-type'] ?? '').split(';')[0]!.trim();
  return { data: new Uint8Array(Buffer.concat(chunks, size)), mime: mime === 'application/octet-stream' && served ? served : mime, name };
}
