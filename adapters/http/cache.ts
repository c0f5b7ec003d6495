import type { Item } from './render.js';
import { Eviction } from '../../src/runtime/eviction.js';

/** Poll mode's memory of answers: this process's (ReplyCache) or the shared store's (SharedReplyCache). */
export interface PollCache {
  /** Starts the entry of a new msg_id; false when it has one already (here or, shared, on another instance): the request is then a poll. */
  open(msgId: string, channel: string): boolean | Promise<boolean>;
  add(msgId: string | undefined, channel: string, items: Item[]): void | Promise<void>;
  forget(msgId: string): void | Promise<void>;
  handled(msgId: string): void | Promise<void>;
  items(msgId: string): Item[] | Promise<Item[]>;
  settle(msgId: string, ms: number): Promise<void>;
  close(): void;
}

interface Entry {
  channel: string;
  items: Item[];
  expires: number;
  handled: boolean;
  waiters: (() => void)[];
}

/**
 * What the bot has answered per msg_id, for poll mode: bounded by count (oldest evicted first)
 * and by TTL. Messages the bot sends on its own to a chat are kept per chat and returned with
 * every poll from it, so a client that only polls still sees them.
 */
export class ReplyCache implements PollCache {
  private readonly entries = new Map<string, Entry>();
  private readonly unsolicited = new Map<string, { items: Item[]; expires: number }>();
  private readonly evictions = { entries: new Eviction(this.entries), unsolicited: new Eviction(this.unsolicited) };

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
  ) {}

  open(msgId: string, channel: string): boolean {
    if (this.live(msgId)) return false;
    this.entries.set(msgId, { channel, items: [], expires: Date.now() + this.ttlMs, handled: false, waiters: [] });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.evictions.entries.oldest()!;
      this.entries.delete(oldest[0]);
      this.wake(oldest[1]);
    }
    return true;
  }

  /** Adds the bot's items to `msgId`, or, when it is not one of ours, to the chat's unsolicited list. */
  add(msgId: string | undefined, channel: string, items: Item[]): void {
    const entry = msgId === undefined ? undefined : this.live(msgId);
    if (entry && entry.channel === channel) {
      entry.items.push(...items);
      return;
    }
    const list = this.unsolicited.get(channel);
    if (list && list.expires > Date.now()) list.items.push(...items);
    else this.unsolicited.set(channel, { items: [...items], expires: Date.now() + this.ttlMs });
    while (this.unsolicited.size > this.maxEntries) this.unsolicited.delete(this.evictions.unsolicited.oldest()![0]);
  }

  /** The message was not taken after all: a later request with this msg_id is a new one. */
  forget(msgId: string): void {
    const entry = this.entries.get(msgId);
    if (!entry) return;
    this.entries.delete(msgId);
    this.wake(entry);
  }

  handled(msgId: string): void {
    const entry = this.entries.get(msgId);
    if (!entry) return;
    entry.handled = true;
    this.wake(entry);
  }

  /** Everything for this msg_id so far, followed by what the bot sent its chat unasked; empty once expired. */
  items(msgId: string): Item[] {
    const entry = this.live(msgId);
    if (!entry) return [];
    const extra = this.unsolicited.get(entry.channel);
    return extra && extra.expires > Date.now() ? [...entry.items, ...extra.items] : entry.items;
  }

  /** Resolves when the message has been handled, or after `ms`. */
  async settle(msgId: string, ms: number): Promise<void> {
    const entry = this.live(msgId);
    if (!entry || entry.handled || ms <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      entry.waiters.push(done);
    });
  }

  /** Releases every waiting request (shutdown). */
  close(): void {
    for (const entry of this.entries.values()) this.wake(entry);
  }

  private live(msgId: string): Entry | undefined {
    const entry = this.entries.get(msgId);
    if (!entry) return undefined;
    if (entry.expires > Date.now()) return entry;
    this.entries.delete(msgId);
    this.wake(entry);
    return undefined;
  }

  private wake(entry: Entry): void {
    for (const waiter of entry.waiters.splice(0)) waiter();
  }
}
