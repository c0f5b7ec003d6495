// Everything in this process's memory: for tests, and for operators who choose it knowing that
// a restart forgets every dedup key, unfinished event and dead letter (`store: { type: memory }`).

import { decode, encode } from './codec.js';
import { LocalLeases } from './local-leases.js';
import { LocalSignals } from './signals.js';
import { admittedAs, dedupKey, pendingRecord, type FinishOptions, type Inbox, type KeyValue, type Leases, type NewEvent, type Outbox, type OutboxItem, type OutboxRecord, type OutboxState, type Store, type StoredEvent } from './index.js';
import { Eviction } from '../runtime/eviction.js';

interface Entry {
  /** Encoded as the durable backends keep it, so a value read is a copy, as it is there (a bot's state tested on memory behaves as on SQLite). */
  text: string;
  expires: number;
}

/**
 * Bounded key-value entries: they expire by TTL, and past `maxEntries` the oldest are evicted
 * first (Map keeps insertion order), so a flood of keys cannot grow memory without bound.
 */
class MemoryKeyValue implements KeyValue {
  private readonly entries = new Map<string, Entry>();
  private readonly eviction = new Eviction(this.entries);

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  async claim(key: string, ttlMs: number): Promise<boolean> {
    return this.claimNow(key, ttlMs);
  }

  claimNow(key: string, ttlMs: number, value: unknown = true): boolean {
    if (this.live(key)) return false;
    this.put(key, encode(value), ttlMs);
    return true;
  }

  async get<T>(key: string): Promise<T | undefined> {
    const entry = this.live(key);
    return entry ? decode<T>(entry.text) : undefined;
  }

  async set(key: string, value: unknown, ttlMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.put(key, encode(value), ttlMs);
  }

  /** Atomic as it is: nothing else runs between the read and the write. */
  async update<T>(key: string, change: (old: T | undefined) => T | undefined, ttlMs?: number): Promise<T | undefined> {
    const entry = this.live(key);
    const next = change(entry ? decode<T>(entry.text) : undefined);
    if (next === undefined) this.entries.delete(key);
    else if (ttlMs === undefined) this.put(key, encode(next), entry ? entry.expires - this.now() : Number.POSITIVE_INFINITY);
    else this.put(key, encode(next), ttlMs);
    return next;
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires > this.now()) return entry;
    this.entries.delete(key);
    return undefined;
  }

  private put(key: string, text: string, ttlMs: number): void {
    this.entries.delete(key);
    this.entries.set(key, { text, expires: this.now() + ttlMs });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.eviction.oldest()![0]);
  }
}

class MemoryInbox implements Inbox {
  readonly events = new Map<string, StoredEvent>();
  private seq = 0;

  constructor(
    private readonly dedup: MemoryKeyValue,
    private readonly outbox: MemoryOutbox,
  ) {}

  async admit(event: NewEvent, dedupTtlMs: number): Promise<boolean> {
    if (event.key !== undefined && !this.dedup.claimNow(dedupKey(event.botId, event.key), dedupTtlMs, event.id)) return false;
    this.events.set(event.id, { id: event.id, botId: event.botId, key: event.key, journal: event.journal, seq: ++this.seq });
    return true;
  }

  async update(id: string, journal: unknown): Promise<void> {
    const event = this.events.get(id);
    if (event) event.journal = journal;
  }

  async finish(id: string, options?: FinishOptions): Promise<void> {
    this.events.delete(id);
    if (options?.replies === false) return;
    // A walk of the whole outbox: skipped when the event put nothing in it.
    this.outbox.forgetDelivered(id, options?.delivered);
  }

  admittedAs(botId: string, key: string): Promise<string | undefined> {
    return admittedAs(this.dedup, botId, key);
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    return this.events.get(id);
  }

  async unfinished(): Promise<StoredEvent[]> {
    return [...this.events.values()];
  }
}

class MemoryOutbox implements Outbox {
  private readonly records = new Map<string, OutboxRecord>();

  constructor(private readonly now: () => number) {}

  async add(items: readonly OutboxItem[]): Promise<void> {
    const at = this.now();
    for (const item of items) if (!this.records.has(item.key)) this.records.set(item.key, pendingRecord(item, at));
  }

  async attempted(key: string, ids: readonly string[], error?: string): Promise<void> {
    const record = this.touch(key);
    if (!record) return;
    record.ids = [...ids];
    record.attempts++;
    if (error !== undefined) record.error = error;
  }

  async delivered(key: string, ids: readonly string[]): Promise<void> {
    const record = this.touch(key);
    if (!record) return;
    record.state = 'delivered';
    record.ids = [...ids];
    record.attempts++;
    delete record.error;
  }

  async dead(key: string, ids: readonly string[], error: string): Promise<void> {
    const record = this.touch(key);
    if (!record) return;
    record.state = 'dead';
    record.ids = [...ids];
    record.error = error;
  }

  async get(key: string): Promise<OutboxRecord | undefined> {
    return this.records.get(key);
  }

  async ofEvent(eventId: string): Promise<OutboxRecord[]> {
    return [...this.records.values()].filter((r) => r.eventId === eventId).sort((a, b) => a.index - b.index);
  }

  async list(state: OutboxState, limit = Number.POSITIVE_INFINITY): Promise<OutboxRecord[]> {
    return [...this.records.values()].filter((r) => r.state === state).slice(0, limit);
  }

  async retry(key: string): Promise<boolean> {
    const record = this.records.get(key);
    if (record?.state !== 'dead') return false;
    this.touch(key)!.state = 'retry';
    return true;
  }

  async drop(key: string): Promise<boolean> {
    if (this.records.get(key)?.state !== 'dead') return false;
    return this.records.delete(key);
  }

  /** `andKey`: a reply of the event delivered just now, not marked (Inbox.finish's `delivered`). */
  forgetDelivered(eventId: string, andKey?: string): void {
    for (const [key, record] of this.records) if (record.eventId === eventId && (record.state === 'delivered' || key === andKey)) this.records.delete(key);
  }

  /** The record to change in place (memory is this store's own), its time moved on. */
  private touch(key: string): OutboxRecord | undefined {
    const record = this.records.get(key);
    if (record) record.updatedAt = this.now();
    return record;
  }
}

export class MemoryStore implements Store {
  readonly description = 'memory';
  readonly shared = false;
  readonly inbox: MemoryInbox;
  readonly outbox: MemoryOutbox;
  readonly leases: Leases = new LocalLeases(this);
  private readonly kv: MemoryKeyValue;
  private readonly signals = new LocalSignals();
  private closed = false;

  constructor(maxEntries = 100_000, now: () => number = Date.now) {
    this.kv = new MemoryKeyValue(maxEntries, now);
    this.outbox = new MemoryOutbox(now);
    this.inbox = new MemoryInbox(this.kv, this.outbox);
  }

  claim(key: string, ttlMs: number): Promise<boolean> {
    return this.kv.claim(key, ttlMs);
  }

  get<T>(key: string): Promise<T | undefined> {
    return this.kv.get<T>(key);
  }

  set(key: string, value: unknown, ttlMs?: number): Promise<void> {
    return this.kv.set(key, value, ttlMs);
  }

  delete(key: string): Promise<void> {
    return this.kv.delete(key);
  }

  update<T>(key: string, change: (old: T | undefined) => T | undefined, ttlMs?: number): Promise<T | undefined> {
    return this.kv.update(key, change, ttlMs);
  }

  notify(topic: string): Promise<void> {
    return this.signals.notify(topic);
  }

  watch(topic: string, listener: () => void): Promise<() => void> {
    return this.signals.watch(topic, listener);
  }

  get available(): boolean {
    return !this.closed;
  }

  /** Key-value entries held now (dedup keys, state, leases), at most `maxEntries`. */
  get keys(): number {
    return this.kv.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.kv.clear();
  }
}
