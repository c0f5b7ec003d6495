import { randomBytes } from 'node:crypto';
import { buttonsAsText, isMedia, plainText, type Segment } from '../../src/message.js';

/** One entry of a response's `data`: `item_id` is stable, so clients can de-duplicate repeated polls. */
export interface Item {
  item_id: string;
  type: 'text' | 'image' | 'audio' | 'video' | 'file';
  content: string;
}

/** Outgoing segments -> items: adjacent text merges into one text item; media go as URLs, or data URLs when the bot made the bytes. */
export function render(content: readonly Segment[]): Item[] {
  const items: Item[] = [];
  let text: Segment[] = [];
  const flush = () => {
    const joined = plainText(text);
    if (joined.trim() !== '') items.push({ item_id: itemId(), type: 'text', content: joined });
    text = [];
  };
  for (const segment of content) {
    if (isMedia(segment)) {
      flush();
      const url = segment.url ?? (segment.data ? `data:${segment.mime ?? 'application/octet-stream'};base64,${Buffer.from(segment.data).toString('base64')}` : undefined);
      if (url) items.push({ item_id: itemId(), type: segment.type, content: url });
    } else if (segment.type === 'buttons') {
      text.push({ type: 'text', text: `${plainText(text) ? '\n' : ''}${buttonsAsText(segment.rows)}` });
    } else if (segment.type === 'unknown') {
      text.push({ type: 'text', text: '[unsupported content]' });
    } else {
      text.push(segment);
    }
  }
  flush();
  return items;
}

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function itemId(): string {
  const bytes = randomBytes(12);
  let id = '';
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
}
