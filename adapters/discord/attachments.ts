// Media both ways: the bound on a user's attachment fetched from Discord's CDN, and outgoing
// media turned into what a Discord message can carry (an uploaded file, or a link).

import type { RawFile } from 'discord.js';
import type { MediaStore } from '../../src/media/media.js';
import type { MediaSegment } from '../../src/message.js';

/** A user's attachment is fetched from Discord's CDN at most this big: the upload limit for bots without boosts. */
export const attachmentLimit = { maxBytes: 25 * 1024 * 1024, timeoutMs: 15_000, what: 'attachment' };

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
