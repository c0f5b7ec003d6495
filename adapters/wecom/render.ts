// Outgoing segments -> the WeCom messages that show them. Text and markdown have byte limits
// (UTF-8), so long text is split, never refused; buttons become numbered lines; a robot writes
// a mention as <@userid> in markdown, an app (whose messages cannot mention) as "@name".

import { buttonsAsText, type MediaSegment, type Segment } from '../../src/message.js';
import { splitText } from '../../src/delivery/text.js';

export type Planned =
  | { kind: 'text'; text: string; mentionAll: boolean }
  | { kind: 'markdown'; text: string }
  | { kind: 'media'; media: MediaSegment };

/** WeCom's limits in UTF-8 bytes: text 2048 everywhere, robot markdown 4096. */
export const limits = { text: 2048, markdown: 4096 } as const;

export function plan(content: readonly Segment[], sender: 'robot' | 'app'): Planned[] {
  const out: Planned[] = [];
  let text = '';
  let markdown = false;
  let mentionAll = false;
  const flush = () => {
    if (text.trim() !== '') {
      const kind = markdown ? 'markdown' : 'text';
      for (const part of splitBytes(text, limits[kind])) out.push(kind === 'markdown' ? { kind, text: part } : { kind, text: part, mentionAll });
    }
    text = '';
    markdown = mentionAll = false;
  };
  for (const segment of content) {
    switch (segment.type) {
      case 'text':
        text += segment.text;
        break;
      case 'mention':
        if (segment.all) {
          text += '@all';
          mentionAll = true;
        } else if (sender === 'robot' && segment.userId) {
          text += `<@${segment.userId}>`;
          markdown = true;
        } else text += `@${segment.name ?? segment.userId ?? ''}`;
        break;
      case 'link':
        text += segment.text && segment.text !== segment.url ? `${segment.text} (${segment.url})` : segment.url;
        break;
      case 'buttons':
        text += `${text && !text.endsWith('\n') ? '\n' : ''}${buttonsAsText(segment.rows)}`;
        break;
      case 'quote':
        break; // WeCom's send APIs cannot quote
      case 'unknown':
        text += '[unsupported content]';
        break;
      default:
        flush();
        out.push({ kind: 'media', media: segment });
    }
  }
  flush();
  return out;
}

/** Splits so no part exceeds `maxBytes` of UTF-8, at the places splitText would choose, never inside a <@mention>. */
export function splitBytes(text: string, maxBytes: number): string[] {
  const out: string[] = [];
  for (const part of splitText(text, maxBytes, mentionTag)) {
    const bytes = Buffer.byteLength(part);
    if (bytes <= maxBytes) {
      out.push(part);
      continue;
    }
    // More bytes than characters (CJK is 3 bytes each): fewer characters per piece.
    let chars = Math.floor((part.length * maxBytes) / bytes);
    let pieces = splitText(part, chars, mentionTag);
    while (chars > 1 && pieces.some((p) => Buffer.byteLength(p) > maxBytes)) pieces = splitText(part, (chars = Math.floor(chars * 0.9)), mentionTag);
    out.push(...pieces);
  }
  return out;
}

const mentionTag = /<@[^>]*>/g;
