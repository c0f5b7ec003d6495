// random_id, VK's idempotency key for messages.send: a positive int32 that VK will not send twice.
// A reply's ids are derived from the conversation, the message it answers, the item's place in
// the whole sequence of replies to that message, and the item's content. So the same handling run
// again (a redelivered event on another instance, or after a restart) sends nothing twice, while
// two identical replies in one sequence ("Done.", "Done.") are still two messages.

import { createHash, randomUUID } from 'node:crypto';
import type { MediaSegment } from '../../src/message.js';
import type { PlannedMessage } from './render.js';

export interface RandomIdOptions {
  /** How long the position in a message's reply sequence is remembered after its last send. */
  ttlMs?: number;
  /** Messages whose position is remembered at once; the oldest is forgotten first. */
  maxEntries?: number;
  now?: () => number;
}

export class RandomIds {
  /** "<channel>\0<message answered>" -> items sent so far; insertion order is last-use order. */
  private readonly positions = new Map<string, { next: number; at: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: RandomIdOptions = {}) {
    this.ttlMs = options.ttlMs ?? 15 * 60_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Messages whose reply position is held now (bounded by maxEntries and ttlMs). */
  get size(): number {
    return this.positions.size;
  }

  /** One id per planned item of a send. `inResponseTo` undefined: not a reply, so a nonce per call. */
  forSend(channel: string, inResponseTo: string | undefined, items: readonly PlannedMessage[]): number[] {
    if (inResponseTo === undefined) {
      const nonce = `once:${randomUUID()}`;
      return items.map((item, index) => derive(channel, nonce, index, item));
    }
    const first = this.reserve(`${channel}\0${inResponseTo}`, items.length);
    return items.map((item, index) => derive(channel, `re:${inResponseTo}`, first + index, item));
  }

  /** The position of the first of `count` items in the message's reply sequence, and moves past them. */
  private reserve(key: string, count: number): number {
    const now = this.now();
    const held = this.positions.get(key);
    const first = held && now - held.at < this.ttlMs ? held.next : 0;
    this.positions.delete(key);
    // The oldest first: forgotten once expired, or to make room.
    for (const [old, entry] of this.positions) {
      if (now - entry.at < this.ttlMs && this.positions.size < this.maxEntries) break;
      this.positions.delete(old);
    }
    this.positions.set(key, { next: first + count, at: now });
    return first;
  }
}

function derive(channel: string, origin: string, position: number, item: PlannedMessage): number {
  const hash = createHash('sha256').update(`${channel}\0${origin}\0${position}\0${item.text}\0${item.keyboard ?? ''}`);
  for (const m of item.media) hash.update(`\0${mediaKey(m)}`);
  return hash.digest().readUInt32BE(0) & 0x7fffffff || 1;
}

function mediaKey(m: MediaSegment): string {
  return `${m.type}:${m.url ?? `${m.name ?? ''}:${m.data?.byteLength ?? 0}`}`;
}
