// Outgoing segments -> the Lark messages that show them: text (with <at> mentions), images and
// files (uploaded first, by the sender), and buttons as an interactive card. Nothing is dropped.

import type { Button, MediaSegment, Segment } from '../../src/message.js';
import { splitText } from '../../src/delivery/text.js';

export type Planned =
  /** msg_type text; `plain` is the same text without <at> tags, for when it moves into a card. */
  | { kind: 'text'; text: string; plain: string }
  /** msg_type interactive: text with a row of buttons under it. */
  | { kind: 'card'; text: string; rows: Button[][] }
  | { kind: 'media'; media: MediaSegment };

/** Characters per text message; Lark's own limit is a 150 KB request, far above what reads well. */
export const textLimit = 4000;
/** A mention tag: never cut inside one. */
const atTag = /<at [^>]*>[^<]*<\/at>/g;

export function plan(content: readonly Segment[]): Planned[] {
  const out: Planned[] = [];
  let text = '';
  let plain = '';
  const flush = () => {
    if (text.trim() !== '') {
      const parts = splitText(text, textLimit, atTag);
      // The plain twin is only needed when the text fits one message (then buttons may join it).
      for (const part of parts) out.push({ kind: 'text', text: part, plain: parts.length === 1 ? plain : part.replace(atTag, (tag) => `@${/>([^<]*)</.exec(tag)?.[1] ?? ''}`) });
    }
    text = plain = '';
  };
  const add = (t: string, p = t) => {
    text += t;
    plain += p;
  };
  for (const segment of content) {
    switch (segment.type) {
      case 'text':
        add(segment.text);
        break;
      case 'mention': {
        if (segment.all) add('<at user_id="all">everyone</at>', '@everyone');
        else if (segment.userId) add(`<at user_id="${escapeAttr(segment.userId)}">${escapeText(segment.name ?? '')}</at>`, `@${segment.name ?? segment.userId}`);
        else add(`@${segment.name ?? ''}`);
        break;
      }
      case 'link':
        add(segment.text && segment.text !== segment.url ? `${segment.text} (${segment.url})` : segment.url);
        break;
      case 'quote':
        break; // sent as a reply by the sender
      case 'buttons': {
        flush();
        const last = out.at(-1);
        if (last?.kind === 'text') out[out.length - 1] = { kind: 'card', text: last.plain, rows: segment.rows };
        else out.push({ kind: 'card', text: '', rows: segment.rows });
        break;
      }
      case 'unknown':
        add('[unsupported content]');
        break;
      default:
        flush();
        out.push({ kind: 'media', media: segment });
    }
  }
  flush();
  return out;
}

/**
 * A message card (schema 1.0): the text, then one action block per row of buttons. A click reaches
 * us as card.action.trigger with `value`. `shared`: update_multi, which a card the app updates later
 * (a streamed answer) must declare before and after every update.
 */
export function card(text: string, rows: readonly Button[][], shared = false): object {
  const elements: object[] = [];
  if (text.trim() !== '') elements.push({ tag: 'div', text: { tag: 'plain_text', content: text } });
  for (const row of rows) {
    elements.push({
      tag: 'action',
      actions: row.map((button) => ({
        tag: 'button',
        text: { tag: 'plain_text', content: button.label },
        type: button.url ? 'default' : 'primary',
        ...(button.url ? { url: button.url } : { value: { value: button.value ?? button.label } }),
      })),
    });
  }
  return { config: shared ? { wide_screen_mode: true, update_multi: true } : { wide_screen_mode: true }, elements };
}

/** What im.file.create calls the file: its own types for mp4, opus and office/pdf files, `stream` for the rest. */
export function fileType(media: MediaSegment, name: string): 'opus' | 'mp4' | 'pdf' | 'doc' | 'xls' | 'ppt' | 'stream' {
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase() ?? '';
  const mime = media.mime?.toLowerCase() ?? '';
  if (ext === 'mp4' || mime === 'video/mp4') return 'mp4';
  if (ext === 'opus' || mime === 'audio/opus') return 'opus';
  if (ext === 'pdf' || mime === 'application/pdf') return 'pdf';
  if (ext === 'doc' || ext === 'docx') return 'doc';
  if (ext === 'xls' || ext === 'xlsx') return 'xls';
  if (ext === 'ppt' || ext === 'pptx') return 'ppt';
  return 'stream';
}

function escapeAttr(value: string): string {
  return value.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function escapeText(value: string): string {
  return value.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`);
}
