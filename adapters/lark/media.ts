// The bytes of an outgoing image or file: Lark takes media only as an upload, never by URL.

import { fetchFile } from '../../src/net/fetch-file.js';
import type { MediaStore } from '../../src/media/media.js';
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
  const body = await fetchFile(media.url, { mime: media.mime, name: media.name ?? new URL(media.url).pathname.split('/').pop(), maxBytes, timeoutMs, what: `${media.type} for upload to Lark` });
  return { data: Buffer.from(body.data.buffer, body.data.byteOffset, body.data.byteLength), mime: body.mime, name: body.name };
}
