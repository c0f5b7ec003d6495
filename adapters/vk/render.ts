// Outgoing segments -> the messages.send calls that show them: text split at VK's limit,
// media as attachments (up to ten a message), buttons as an inline keyboard on the last message,
// and a quote as reply_to (a message id) or forward (a chat's conversation_message_id).

import { buttonsAsText, type Button, type MediaSegment, type Segment } from '../../src/message.js';
import { splitText } from '../../src/delivery/text.js';

/** Characters per message (VK refuses longer text). */
export const textLimit = 4096;
/** Attachments per message. */
export const attachmentLimit = 10;
/** Inline keyboards: at most 6 rows, 5 buttons a row, 10 buttons; labels of 40 characters; payloads of 255. */
const keyboardLimits = { rows: 6, perRow: 5, buttons: 10, label: 40, payload: 255 };

export interface PlannedMessage {
  text: string;
  media: MediaSegment[];
  /** keyboard JSON, on the last message only. */
  keyboard?: string;
  /** The keyboard's buttons as numbered lines, for when VK refuses the keyboard. */
  buttonsText?: string;
}

export function plan(content: readonly Segment[]): PlannedMessage[] {
  let text = '';
  const media: MediaSegment[] = [];
  const rows: Button[][] = [];
  for (const segment of content) {
    switch (segment.type) {
      case 'text':
        text += segment.text;
        break;
      case 'mention':
        text += mentionText(segment);
        break;
      case 'link':
        text += segment.text && segment.text !== segment.url ? `${segment.text} (${segment.url})` : segment.url;
        break;
      case 'quote':
        break; // carried as reply_to / forward
      case 'buttons':
        rows.push(...segment.rows.filter((row) => row.length > 0));
        break;
      case 'unknown':
        text += '[unsupported content]';
        break;
      default:
        media.push(segment);
    }
  }
  let keyboard: string | undefined;
  if (rows.length > 0) {
    keyboard = keyboardJson(rows);
    // Too many buttons for an inline keyboard: shown as numbered lines rather than dropped.
    if (keyboard === undefined) text += `${text && !text.endsWith('\n') ? '\n' : ''}${buttonsAsText(rows)}`;
  }
  const messages: PlannedMessage[] = (text.trim() === '' ? [] : split(text)).map((part) => ({ text: part, media: [] }));
  if (messages.length === 0) messages.push({ text: '', media: [] });
  let last = messages[messages.length - 1]!;
  for (const item of media) {
    if (last.media.length === attachmentLimit) messages.push((last = { text: '', media: [] }));
    last.media.push(item);
  }
  if (last.text === '' && last.media.length === 0 && keyboard === undefined) return [];
  if (keyboard) {
    // VK refuses a keyboard on a message with neither text nor attachment: a blank (U+2800) carries it.
    if (last.text === '' && last.media.length === 0) last.text = '\u2800';
    last.keyboard = keyboard;
    last.buttonsText = buttonsAsText(rows);
  }
  return messages;
}

function mentionText(segment: Extract<Segment, { type: 'mention' }>): string {
  if (segment.all) return '@all';
  const id = Number(segment.userId);
  const name = segment.name ?? segment.userId ?? '';
  if (!Number.isInteger(id) || id === 0) return `@${name}`;
  return id > 0 ? `[id${id}|${name}]` : `[club${-id}|${name}]`;
}

function keyboardJson(rows: readonly Button[][]): string | undefined {
  const count = rows.reduce((n, row) => n + row.length, 0);
  if (rows.length > keyboardLimits.rows || count > keyboardLimits.buttons || rows.some((row) => row.length > keyboardLimits.perRow)) return undefined;
  const buttons = rows.map((row) =>
    row.map((button) => {
      const label = button.label.slice(0, keyboardLimits.label);
      if (button.url) return { action: { type: 'open_link', link: button.url, label } };
      const payload = JSON.stringify({ value: button.value ?? button.label });
      // A value too long for VK's payload: the button then says its label.
      return { action: { type: 'text', label, ...(payload.length <= keyboardLimits.payload ? { payload } : {}) }, color: 'secondary' };
    }),
  );
  return JSON.stringify({ inline: true, buttons });
}

/** How a reply quotes: reply_to with a message id, or forward with a chat's conversation_message_id. */
export function quoteParams(messageId: string | undefined, peerId: number): { reply_to?: number; forward?: string } {
  if (!messageId) return {};
  const cmid = /^c(\d+)$/.exec(messageId)?.[1];
  if (cmid) return { forward: JSON.stringify({ peer_id: peerId, conversation_message_ids: [Number(cmid)], is_reply: true }) };
  return /^\d+$/.test(messageId) ? { reply_to: Number(messageId) } : {};
}

/** A mention's markup is never cut in two. */
const atom = /\[(?:id|club|public)\d+\|[^\]]*\]/g;

export function split(text: string): string[] {
  return splitText(text, textLimit, atom);
}
