// Outgoing segments -> the QQ messages that show them. QQ has no buttons a bot may send without
// an approved markdown template, takes media only by URL, and groups/C2C take only images,
// mp4 video and silk/amr voice: whatever it cannot show is degraded to text, never dropped.

import { buttonsAsText, type MediaSegment, type Segment } from '../../src/message.js';
import type { SceneKind } from './channel.js';
import { splitText } from '../../src/delivery/text.js';

/** Rich-media file_type of the v2 (group/C2C) upload API. */
export const fileType = { image: 1, video: 2, voice: 3 } as const;
export type FileType = (typeof fileType)[keyof typeof fileType];

export type Planned =
  | { kind: 'text'; text: string }
  /** Sent as media: the `image` field in guilds, an upload then msg_type 7 in groups and C2C. */
  | { kind: 'media'; media: MediaSegment; fileType: FileType }
  /** Media this scene cannot show: sent as a line of text with its URL. */
  | { kind: 'link'; media: MediaSegment };

/** Characters per text message; longer text is split rather than refused. */
export const textLimit = 2000;

export function plan(content: readonly Segment[], scene: SceneKind): Planned[] {
  const guild = scene === 'channel' || scene === 'dm';
  const out: Planned[] = [];
  let text = '';
  const flush = () => {
    if (text.trim() !== '') for (const part of split(text, textLimit)) out.push({ kind: 'text', text: part });
    text = '';
  };
  for (const segment of content) {
    switch (segment.type) {
      case 'text':
        text += guild ? escape(segment.text) : segment.text;
        break;
      case 'mention':
        if (segment.all) text += guild ? '@everyone' : '@all';
        else if (guild && segment.userId && /^\d+$/.test(segment.userId)) text += `<@${segment.userId}>`;
        else text += `@${segment.name ?? segment.userId ?? ''}`;
        break;
      case 'link': {
        const label = segment.text && segment.text !== segment.url ? `${segment.text} (${segment.url})` : segment.url;
        text += guild ? escape(label) : label;
        break;
      }
      case 'quote':
        break; // carried as message_reference where QQ supports it
      case 'buttons': {
        const lines = buttonsAsText(segment.rows);
        text += `${text && !text.endsWith('\n') ? '\n' : ''}${guild ? escape(lines) : lines}`;
        break;
      }
      case 'unknown':
        text += '[unsupported content]';
        break;
      default: {
        flush();
        const type = mediaFileType(segment, guild);
        out.push(type === undefined ? { kind: 'link', media: segment } : { kind: 'media', media: segment, fileType: type });
      }
    }
  }
  flush();
  return out;
}

function mediaFileType(media: MediaSegment, guild: boolean): FileType | undefined {
  if (media.type === 'image') return fileType.image;
  if (guild) return undefined; // guild messages carry images only
  const mime = media.mime?.toLowerCase() ?? '';
  const name = media.name?.toLowerCase() ?? '';
  if (media.type === 'video' && (mime === 'video/mp4' || name.endsWith('.mp4') || !mime)) return fileType.video;
  if (media.type === 'audio' && (/silk|amr/.test(mime) || /\.(silk|slk|amr)$/.test(name))) return fileType.voice;
  return undefined;
}

/** What a `link` item says: the kind of media, its name, and where to get it. */
export function linkText(media: MediaSegment, url: string, scene: SceneKind): string {
  const label = `[${media.type}${media.name ? `: ${media.name}` : ''}] ${url}`;
  return scene === 'channel' || scene === 'dm' ? escape(label) : label;
}

/** Guild content is QQ's embedded format: a literal < > & must be escaped or it may be read as a tag. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An escape or a mention tag: never cut inside one. */
const atom = /&[#a-z0-9]+;|<@!?[^>]*>/gi;

/** Splits at newlines (else spaces) so no part exceeds `limit` characters. */
export function split(text: string, limit: number): string[] {
  return splitText(text, limit, atom);
}
