// Poll mode's answers in a store other instances share: a poll on instance B returns what the bot
// produced for the msg_id on instance A, and a poll waiting on B wakes when A is done. Entries
// leave by cacheTtl (the store expires them); cacheSize bounds only ReplyCache, one process's
// memory. Items of one msg_id are added by the one delivery of its event, in order, so the
// read-then-write of an entry does not race.

import type { KeyValue, Signals } from '../../src/store/index.js';
import type { PollCache } from './cache.js';
import type { Item } from './render.js';

interface Entry {
  channel: string;
  items: Item[];
  handled: boolean;
  /** Entries keep the expiry they were opened with when they change. */
  expires: number;
}

interface Unsolicited {
  items: Item[];
  expires: number;
}

export class SharedReplyCache implements PollCache {
  /** Requests waiting here, released at shutdown. */
  private readonly waiting = new Set<() => void>();

  /** `scope` keeps the keys of one HTTP platform apart from another's. */
  constructor(
    private readonly store: KeyValue & Signals,
    private readonly scope: string,
    private readonly ttlMs: number,
  ) {}

  async open(msgId: string, channel: string): Promise<boolean> {
    // Claimed first: a msg_id with an entry, or one that two instances get at once, is dispatched by
    // one only; the others poll it. Until the entry is written, the claim's mark stands for it.
    if (!(await this.store.claim(this.msgKey(msgId), this.ttlMs))) return false;
    await this.put(msgId, { channel, items: [], handled: false, expires: Date.now() + this.ttlMs });
    return true;
  }

  async add(msgId: string | undefined, channel: string, items: Item[]): Promise<void> {
    const entry = msgId === undefined ? undefined : await this.entry(msgId);
    if (entry && entry.channel === channel) {
      entry.items = [...entry.items, ...items];
      await this.put(msgId!, entry);
      return;
    }
    const key = this.chatKey(channel);
    const list = await this.store.get<Unsolicited>(key);
    const now = Date.now();
    const next = list && list.expires > now ? { items: [...list.items, ...items], expires: list.expires } : { items, expires: now + this.ttlMs };
    await this.store.set(key, next, next.expires - now);
  }

  async forget(msgId: string): Promise<void> {
    await this.store.delete(this.msgKey(msgId));
    await this.store.notify(this.msgKey(msgId));
  }

  async handled(msgId: string): Promise<void> {
    const entry = await this.entry(msgId);
    if (!entry) return;
    entry.handled = true;
    await this.put(msgId, entry);
    await this.store.notify(this.msgKey(msgId));
  }

  async items(msgId: string): Promise<Item[]> {
    const entry = await this.entry(msgId);
    if (!entry) return [];
    const extra = await this.store.get<Unsolicited>(this.chatKey(entry.channel));
    return extra && extra.expires > Date.now() ? [...entry.items, ...extra.items] : entry.items;
  }

  /** Resolves when the message has been handled (on any instance), or after `ms`. */
  async settle(msgId: string, ms: number): Promise<void> {
    if (ms <= 0) return;
    const deadline = Date.now() + ms;
    let wake = () => {};
    let unwatch: (() => void) | undefined;
    try {
      // Watching before looking: a signal sent between the look and the wait is not missed.
      unwatch = await this.store.watch(this.msgKey(msgId), () => wake());
    } catch {
      // The store cannot carry signals now: answer with what there is; the client polls again.
      return;
    }
    try {
      for (;;) {
        const woken = new Promise<void>((resolve) => (wake = resolve));
        const entry = await this.entry(msgId);
        const left = deadline - Date.now();
        if (!entry || entry.handled || left <= 0) return;
        let timer: NodeJS.Timeout | undefined;
        let release = () => {};
        const released = new Promise<void>((resolve) => (release = resolve));
        this.waiting.add(release);
        await Promise.race([woken, released, new Promise<void>((resolve) => (timer = setTimeout(resolve, left)))]);
        clearTimeout(timer);
        const closed = !this.waiting.delete(release);
        if (closed) return;
      }
    } finally {
      unwatch();
    }
  }

  close(): void {
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const release of waiting) release();
  }

  private async entry(msgId: string): Promise<Entry | undefined> {
    const entry = await this.store.get<Entry | true>(this.msgKey(msgId));
    if (entry === true) return { channel: '', items: [], handled: false, expires: Date.now() + this.ttlMs };
    return entry && entry.expires > Date.now() ? entry : undefined;
  }

  private put(msgId: string, entry: Entry): Promise<void> {
    return this.store.set(this.msgKey(msgId), entry, Math.max(1, entry.expires - Date.now()));
  }

  private msgKey(msgId: string): string {
    return `http:${this.scope}:poll:${msgId}`;
  }

  private chatKey(channel: string): string {
    return `http:${this.scope}:chat:${channel}`;
  }
}
