// Media both ways: a user's attachment fetched from Discord's CDN only when someone asks for it,
// and outgoing media turned into what a Discord message can carry (an uploaded file, or a link).

import type { RawFile } from 'discord.js';
import { request, type Dispatcher } from 'undici';
import type { MediaBody, MediaStore } from '../../src/media.js';
import type { MediaSegment } from '../../src/message.js';

const maxBytes = 25 * 1024 * 1024; // Discord's upload limit for bots without boosts
const timeoutMs = 15_000;

export async function fetchAttachment(url: string, mime: string, name: string | undefined, dispatcher: Dispatcher | undefined): Promise<MediaBody> {
  const response = await request(url, { dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw new Error(`attachment download failed with HTTP ${response.statusCode}`);
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
  return { data: new Uint8Array(Buffer.concat(chunks, size)), mime, name };
}

/** How one media segment travels: uploaded bytes, or (an outside URL) shown by Discord itself. */
export type Outgoing = { kind: 'file'; file: RawFile } | { kind: 'embed'; url: string } | { kind: 'link'; text: string };

/**
 * Bytes we hold (the segment's own, or behind one of our media URLs) are uploaded. An outside URL
 * is never fetched by us (no request forgery through the bot): Discord shows an image URL as an
 * embed, and any other file as a link.
 */
export async function outgoing(media: MediaSegment, store: MediaStore | undefined): Promise<Outgoing> {
  if (media.data) return { kind: 'file', file: { name: fileName(media, media.mime), data: media.data, contentType: media.mime } };
  if (!media.url) throw new Error(`${media.type} has neither url nor data`);
  if (store?.idOf(media.url) !== undefined) {
    const body = await store.load(media.url);
    if (!body) throw new Error('media URL has expired');
    return { kind: 'file', file: { name: media.name ?? body.name ?? fileName(media, body.mime), data: body.data, contentType: body.mime } };
  }
  if (media.type === 'image') return { kind: 'embed', url: media.url };
  return { kind: 'link', text: media.name ? `[${media.name}](${media.url})` : media.url };
}

const extensions: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp', 'video/mp4': 'mp4', 'audio/mpeg': 'mp3', 'audio/ogg': 'ogg' };

function fileName(media: MediaSegment, mime: string | undefined): string {
  if (media.name) return media.name;
  const ext = mime ? extensions[mime] : undefined;
  return `${media.type}${ext ? `.${ext}` : media.type === 'image' ? '.png' : ''}`;
}
