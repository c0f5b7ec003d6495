// Streaming on the HTTP endpoint: a request with `stream: true` is answered with server-sent
// events. Each update of a growing answer is a `delta` event (the text appended since the last
// one) on the event streams waiting for the message it answers; the finished answer is kept for
// polling as `send` keeps it, and the final `done` event (the poll answer) comes from index.ts.

import { randomUUID } from 'node:crypto';
import type { PassThrough } from 'node:stream';
import type { LiveMessage, Streaming } from '../../src/adapter.js';
import { retryable } from '../../src/delivery/retry.js';
import { sseFrame } from '../../src/inbound/sse.js';
import type { Delivery, OutgoingMessage, Segment } from '../../src/message.js';
import type { PollCache } from './cache.js';
import { itemIdOf, render } from './render.js';

/** An item's text has no platform limit here; past this a streamed answer goes on in a new item. */
const maxLength = 65_536;

/** The event streams waiting on each msg_id, and the text each growing item of it shows so far. */
export class LiveAnswers {
  private readonly listeners = new Map<string, Set<PassThrough>>();
  /** msg_id -> item_id -> whole text so far, while the item grows: a stream that joins late starts from it. */
  private readonly growing = new Map<string, Map<string, string>>();

  /** Sends `msgId`'s deltas to `stream` until it closes, starting with the text its items show now. */
  attach(msgId: string, stream: PassThrough): void {
    let set = this.listeners.get(msgId);
    if (!set) this.listeners.set(msgId, (set = new Set()));
    set.add(stream);
    for (const [itemId, text] of this.growing.get(msgId) ?? []) stream.write(sseFrame('delta', { item_id: itemId, text }));
    const listeners = set;
    stream.once('close', () => {
      listeners.delete(stream);
      if (listeners.size === 0 && this.listeners.get(msgId) === listeners) this.listeners.delete(msgId);
    });
  }

  grow(msgId: string, itemId: string, text: string, added: string): void {
    let items = this.growing.get(msgId);
    if (!items) this.growing.set(msgId, (items = new Map()));
    items.set(itemId, text);
    const listeners = this.listeners.get(msgId);
    if (!listeners) return;
    const frame = sseFrame('delta', { item_id: itemId, text: added });
    for (const stream of listeners) stream.write(frame);
  }

  /** The message is handled: nothing of it grows any more (an item the core gave up on included). */
  clear(msgId: string): void {
    this.growing.delete(msgId);
  }

  done(msgId: string, itemId: string): void {
    const items = this.growing.get(msgId);
    if (items?.delete(itemId) && items.size === 0) this.growing.delete(msgId);
  }
}

/**
 * Updates are drafts (the client keeps nothing of a delta; a poll sees only finished items), so
 * a finish that could not be kept sends the whole message again through `send`.
 */
export function httpStreaming(live: LiveAnswers, cache: () => PollCache): Streaming {
  return {
    maxLength,
    open: (message: OutgoingMessage): LiveMessage => new LiveItem(live, cache(), message),
  };
}

class LiveItem implements LiveMessage {
  readonly draft = true;
  readonly id = undefined;
  /** Makes the item ids, as a send's key does: the deltas' item_id is the finished text item's. */
  private readonly key = randomUUID();
  private readonly itemId = itemIdOf(this.key, 0);
  private shown = 0;

  constructor(
    private readonly live: LiveAnswers,
    private readonly cache: PollCache,
    private readonly message: OutgoingMessage,
  ) {}

  async update(text: string): Promise<{ ok: true }> {
    const msgId = this.message.inResponseTo;
    if (msgId !== undefined && text.length > this.shown) this.live.grow(msgId, this.itemId, text, text.slice(this.shown));
    this.shown = text.length;
    return { ok: true };
  }

  async finish(content: Segment[]): Promise<Delivery> {
    const started = performance.now();
    const { inResponseTo: msgId, to } = this.message;
    const items = render(content, this.key);
    try {
      await this.cache.add(msgId, to.channelId, items);
    } catch (error) {
      return { ok: false, ids: [], error: `could not keep the answer for polling: ${(error as Error).message}`, failure: retryable, ms: performance.now() - started };
    } finally {
      if (msgId !== undefined) this.live.done(msgId, this.itemId);
    }
    return { ok: true, ids: items.map((i) => i.item_id), ms: performance.now() - started };
  }
}
