// Streaming on the HTTP endpoint: a request with `stream: true` is answered with server-sent
// events. Each update of a growing answer is a `delta` event (the text appended since the stream
// was last sent some) on the event streams waiting for the message it answers, on this instance
// and, through a shared store, on the others; the finished answer is kept for polling as `send`
// keeps it, and the final `done` event (the poll answer) comes from index.ts.

import { randomUUID } from 'node:crypto';
import type { PassThrough } from 'node:stream';
import type { LiveMessage, Streaming } from '../../src/adapter.js';
import { retryable } from '../../src/delivery/retry.js';
import { sseFrame } from '../../src/inbound/sse.js';
import type { Delivery, OutgoingMessage, Segment } from '../../src/message.js';
import type { KeyValue, Signals } from '../../src/store/index.js';
import type { PollCache } from './cache.js';
import { itemIdOf, render } from './render.js';
import { SharedLive } from './shared-live.js';

/** An item's text has no platform limit here; past this a streamed answer goes on in a new item. */
const maxLength = 65_536;

/** Characters of each item a stream has been sent, by item_id. */
type Sent = Map<string, number>;

/** The event streams waiting on each msg_id, and the text each growing item of it shows so far. */
export class LiveAnswers {
  private readonly listeners = new Map<string, Map<PassThrough, Sent>>();
  /** msg_id -> item_id -> whole text so far, while the item grows: a stream that joins late starts from it. */
  private readonly growing = new Map<string, Map<string, string>>();
  private shared: SharedLive | undefined;

  /** With a store other instances share: answers growing here reach streams opened there, and the other way round. */
  share(store: KeyValue & Signals, scope: string, ttlMs: number): void {
    this.shared ??= new SharedLive(store, scope, ttlMs);
  }

  /**
   * Sends `msgId`'s deltas to `stream` until it closes, starting with the text its items show now.
   * Returns what to wait for before the stream's last event: the deltas another instance kept that
   * have not reached it yet.
   */
  attach(msgId: string, stream: PassThrough): () => Promise<void> {
    let streams = this.listeners.get(msgId);
    if (!streams) this.listeners.set(msgId, (streams = new Map()));
    const sent: Sent = new Map();
    streams.set(stream, sent);
    for (const [itemId, text] of this.growing.get(msgId) ?? []) sendDelta(stream, sent, itemId, text);
    const onItems = (items: Iterable<[string, string]>) => {
      for (const [itemId, text] of items) sendDelta(stream, sent, itemId, text);
    };
    const unfollow = this.shared?.follow(msgId, onItems);
    const listeners = streams;
    stream.once('close', () => {
      unfollow?.();
      listeners.delete(stream);
      if (listeners.size === 0 && this.listeners.get(msgId) === listeners) this.listeners.delete(msgId);
    });
    return async () => {
      if (this.shared) onItems(await this.shared.read(msgId));
    };
  }

  /** Item `itemId` of `msgId`'s answer now shows `text` (what it showed before, and more). */
  grow(msgId: string, itemId: string, text: string): void {
    let items = this.growing.get(msgId);
    if (!items) this.growing.set(msgId, (items = new Map()));
    items.set(itemId, text);
    for (const [stream, sent] of this.listeners.get(msgId) ?? []) sendDelta(stream, sent, itemId, text);
    this.shared?.publish(msgId, items);
  }

  /** The message is handled: nothing of it grows any more (an item the core gave up on included). */
  clear(msgId: string): void {
    this.growing.delete(msgId);
  }

  /** Settles once what grew here is kept for the other instances' streams. */
  async kept(msgId: string): Promise<void> {
    await this.shared?.kept(msgId);
  }

  done(msgId: string, itemId: string): void {
    const items = this.growing.get(msgId);
    if (items?.delete(itemId) && items.size === 0) this.growing.delete(msgId);
  }
}

/** The part of `text` that `stream` has not been sent yet, as a delta; nothing when it has all of it. */
function sendDelta(stream: PassThrough, sent: Sent, itemId: string, text: string): void {
  const shown = sent.get(itemId) ?? 0;
  // A read from the store may come back after `done` ended the stream.
  if (text.length <= shown || stream.writableEnded) return;
  sent.set(itemId, text.length);
  stream.write(sseFrame('delta', { item_id: itemId, text: shown === 0 ? text : text.slice(shown) }));
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
  /** The text the last update showed. */
  private shown = '';

  constructor(
    private readonly live: LiveAnswers,
    private readonly cache: PollCache,
    private readonly message: OutgoingMessage,
  ) {}

  async update(text: string): Promise<{ ok: true }> {
    const msgId = this.message.inResponseTo;
    if (msgId !== undefined && text.length > this.shown.length) this.live.grow(msgId, this.itemId, text);
    this.shown = text;
    return { ok: true };
  }

  async finish(content: Segment[]): Promise<Delivery> {
    const started = performance.now();
    const { inResponseTo: msgId, to } = this.message;
    const items = render(content, this.key);
    // The end of the text often comes with the finish, not an update of its own: the deltas get it too.
    const text = content.map((segment) => (segment.type === 'text' ? segment.text : '')).join('');
    if (msgId !== undefined && text.length > this.shown.length && text.startsWith(this.shown)) this.live.grow(msgId, this.itemId, text);
    try {
      if (msgId !== undefined) await this.live.kept(msgId);
      await this.cache.add(msgId, to.channelId, items);
    } catch (error) {
      return { ok: false, ids: [], error: `could not keep the answer for polling: ${(error as Error).message}`, failure: retryable, ms: performance.now() - started };
    } finally {
      if (msgId !== undefined) this.live.done(msgId, this.itemId);
    }
    return { ok: true, ids: items.map((i) => i.item_id), ms: performance.now() - started };
  }
}
