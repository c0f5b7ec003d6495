import type { InlineKeyboardButton, InlineKeyboardMarkup } from 'node-telegram-bot-api';
import { quotedMessageId, type Button, type MediaSegment, type Segment } from '../../src/message.js';
import { splitText } from '../../src/delivery/text.js';

/** One Telegram message to send: HTML text (with an optional inline keyboard), or one media item. */
export type Planned =
  | { kind: 'text'; html: string; keyboard?: InlineKeyboardMarkup }
  | { kind: 'media'; media: MediaSegment; keyboard?: InlineKeyboardMarkup };

export const textLimit = 4096;
const callbackDataLimit = 64;
/** A link with its text, a tag or an entity: never cut inside one. */
const htmlAtom = /<a [^>]*>[\s\S]*?<\/a>|<[^>]*>|&[#a-z0-9]+;/gi;

/**
 * Outgoing segments -> the Telegram messages that show them, in order. Adjacent text,
 * mentions and links share one message; buttons ride on the message before them;
 * nothing Telegram cannot show is dropped silently.
 */
export function plan(content: readonly Segment[]): Planned[] {
  const out: Planned[] = [];
  let html = '';
  const flush = () => {
    if (html.trim() === '') return void (html = '');
    for (const part of splitText(html, textLimit, htmlAtom)) out.push({ kind: 'text', html: part });
    html = '';
  };
  for (const segment of content) {
    switch (segment.type) {
      case 'text':
        html += escape(segment.text);
        break;
      case 'mention':
        if (segment.all) html += '@all';
        else if (segment.userId && /^\d+$/.test(segment.userId)) html += `<a href="tg://user?id=${segment.userId}">${escape(segment.name ?? segment.userId)}</a>`;
        else html += escape(`@${segment.name ?? segment.userId ?? ''}`);
        break;
      case 'link':
        html += `<a href="${escape(segment.url)}">${escape(segment.text ?? segment.url)}</a>`;
        break;
      case 'quote':
        break; // carried as reply_parameters by the sender
      case 'buttons': {
        flush();
        const last = out.at(-1);
        const keyboard = inlineKeyboard(segment.rows);
        if (last && !last.keyboard) last.keyboard = keyboard;
        else out.push({ kind: 'text', html: 'Choose:', keyboard });
        break;
      }
      case 'unknown':
        html += '[unsupported content]';
        break;
      default:
        flush();
        out.push({ kind: 'media', media: segment });
    }
  }
  flush();
  return out;
}

/** The message a planned list quotes, as Telegram's numeric id. */
export function quotedId(content: readonly Segment[], replyTo: string | undefined): number | undefined {
  const id = Number(quotedMessageId(content, replyTo));
  return Number.isSafeInteger(id) ? id : undefined;
}

function inlineKeyboard(rows: readonly Button[][]): InlineKeyboardMarkup {
  return {
    inline_keyboard: rows.map((row) =>
      row.map((button): InlineKeyboardButton => {
        if (button.url) return { text: button.label, url: button.url };
        return { text: button.label, callback_data: truncateUtf8(button.value ?? button.label, callbackDataLimit) };
      }),
    ),
  };
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function truncateUtf8(text: string, bytes: number): string {
  const encoded = Buffer.from(text);
  if (encoded.length <= bytes) return text;
  return encoded.subarray(0, bytes).toString('utf8').replace(/\uFFFD$/, '');
}

/** "chat" or "chat:thread" (forum topics). */
export function splitChannel(channelId: string): [string, number | undefined] {
  const colon = channelId.lastIndexOf(':');
  if (colon <= 0) return [channelId, undefined];
  return [channelId.slice(0, colon), Number(channelId.slice(colon + 1))];
}
