// Bytes of a user's attachment, fetched from QQ's CDN only when someone asks for them.

import { request, type Dispatcher } from 'undici';
import type { MediaBody } from '../../src/media.js';

export interface AttachmentFetchOptions {
  dispatcher?: Dispatcher;
  maxBytes?: number;
  timeoutMs?: number;
}

export async function fetchAttachment(url: string, mime: string, name: string | undefined, options: AttachmentFetchOptions = {}): Promise<MediaBody> {
  const { dispatcher, maxBytes = 20 * 1024 * 1024, timeoutMs = 15_000 } = options;
  const response = await request(url, { dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw new Error(`attachment download failed with HTTP ${response.statusCode}`);
  }
  const declared = Number(response.headers['content-length']);
  if (declared > maxBytes) {
    await response.body.dump();
    throw new Error(`attachment is larger than ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      response.body.destroy();
      throw new Error(`attachment is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const served = String(response.headers['content-type'] ?? '').split(';')[0]!.trim();
  return { data: new Uint8Array(Buffer.concat(chunks, size)), mime: mime.includes('/') && mime !== 'application/octet-stream' ? mime : served || mime, name };
}
