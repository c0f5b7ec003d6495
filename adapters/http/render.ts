import { randomBytes } from 'node:crypto';
import { idempotencyKey } from '../../src/delivery/idempotency.js';
import { buttonsAsText, isMedia, plainText, type Segment } from '../../src/message.js';

/** One entry of a response's `data`: `item_id` is stable, so clients can de-duplicate repeated polls. */
export interface Item {
  item_id: string;
  type: 'text' | 'image' | 'audio' | 'video' | 'file';
  content: string;
}

/**
 * Outgoing segments -> items: adjacent text merges into one text item; media go as URLs, or data
 * URLs when the bot made the bytes. With the reply item's stable key, the item ids are made from
 * it, so a try repeated after a failure or a restart carries the same ids.
 */
export function render(content: readonly Segment[], key?: string): Item[] {
  const items: Item[] = [];
  const itemId = () => (key === undefined ? idOf(randomBytes(12)) : itemIdOf(key, items.length));
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

/** The id `render(content, key)` gives its item number `index`. */
export function itemIdOf(key: string, index: number): string {
  return idOf(Buffer.from(idempotencyKey(key, index, 16), 'base64url'));
}

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 12 letters and digits from 12 bytes. */
function idOf(bytes: Buffer): string {
  let id = '';
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
}
