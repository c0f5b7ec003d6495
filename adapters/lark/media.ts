// The bytes of an outgoing image or file: Lark takes media only as an upload, never by URL.

import { request } from 'undici';
import type { MediaStore } from '../../src/media.js';
import type { MediaSegment } from '../../src/message.js';

/** Lark's upload limits: 10 MB for an image, 30 MB for a file. */
export const uploadLimit = { image: 10 * 1024 * 1024, file: 30 * 1024 * 1024 } as const;

export async function bytesOf(media: MediaSegment, store: MediaStore | undefined, maxBytes: number, timeoutMs = 15_000): Promise<{ data: Buffer; mime?: string; name?: string }> {
  if (media.data) return { data: Buffer.from(media.data.buffer, media.data.byteOffset, media.data.byteLength), mime: media.mime, name: media.name };
  if (!media.url) throw new Error(`${media.type} has neither url nor data`);
  if (store?.idOf(media.url) !== undefined) {
    const body = await store.load(media.url);
    if (!body) throw new Error('media URL has expired');
    return { data: Buffer.from(body.data.buffer, body.data.byteOffset, body.data.byteLength), mime: media.mime ?? body.mime, name: media.name ?? body.name };
  }
  const response = await request(media.url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw new Error(`fetching ${media.type} for upload failed with HTTP ${response.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      response.body.destroy();
      throw new Error(`${media.type} is larger than Lark's ${maxBytes}-byte upload limit`);
    }
    chunks.push(chunk);
  }
  const served = String(response.headers['content-type'] ?? '').split(';')[0]!.trim();
  return { data: Buffer.concat(chunks, size), mime: media.mime ?? (served || undefined), name: media.name ?? new URL(media.url).pathname.split('/').pop() };
}
