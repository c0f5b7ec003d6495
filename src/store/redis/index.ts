// The store on Redis (ioredis): every instance that points at the same Redis and prefix sees the
// same dedup keys, events, outbox and key-value state. Each step that must be atomic is one Lua
// script (scripts.ts); commands are pipelined automatically, so a burst costs few round trips.
// While Redis cannot be reached, commands fail at once (no offline queue) and `available` is
// false: webhooks get their 503 without waiting, and ioredis keeps reconnecting. A Redis that is
// connected but does not answer (stopped, swapping, a network path that drops packets) is found by
// the command timeout: the store counts as unavailable until a PING is answered again.

import { Redis } from 'ioredis';
import { decode, encode, encodeJournal } from '../codec.js';
import { admittedAs, dedupKey, StoreError, type FinishOptions, type Inbox, type Leases, type NewEvent, type Outbox, type OutboxItem, type OutboxRecord, type OutboxState, type Store, type StoredEvent } from '../index.js';
import * as lua from './scripts.js';
import { defineLeaseCommands, RedisLeases, type LeaseRedis } from './leases.js';
import { RedisSignals } from './signals.js';
import { defineUpdateCommand, RedisUpdates } from './update.js';

export interface RedisOptions {
  url: string;
  /** Every key starts with it, so several deployments (or test files) can share one Redis. */
  prefix: string;
  /** How long a command may go unanswered before it fails and the store counts as unavailable (default 5 s). */
  commandTimeoutMs?: number;
  now?: () => number;
}

type Scripted = LeaseRedis & {
  sbAdmit(dedupKey: string, ...argv: (string | number)[]): Promise<number>;
  sbUpdate(...argv: string[]): Promise<number>;
  sbFinish(...argv: string[]): Promise<number>;
  sbAdd(...argv: (string | number)[]): Promise<number>;
  sbChange(...argv: (string | number)[]): Promise<number>;
  sbDrop(...argv: string[]): Promise<number>;
};

const connectTimeoutMs = 5000;
export const defaultCommandTimeoutMs = 5000;
/** While unanswered commands mark the store unavailable: how often a PING asks whether Redis answers again. */
const probeEveryMs = 500;

export class RedisStore implements Store {
  readonly description: string;
  readonly shared = true;
  readonly inbox: Inbox;
  readonly outbox: Outbox;
  readonly leases: Leases;
  readonly now: () => number;
  private readonly signals: RedisSignals;
  private readonly updates = new RedisUpdates(this);
  private closed = false;
  private readonly availability = new Set<(available: boolean) => void>();
  private wasAvailable = true;
  /** Set when a command timed out, cleared once a PING is answered: connected, but not answering. */
  private unanswered: NodeJS.Timeout | undefined;

  private constructor(
    readonly redis: Scripted,
    readonly prefix: string,
    readonly where: string,
    now: () => number,
  ) {
    this.now = now;
    this.description = `redis ${where} (prefix ${prefix})`;
    this.inbox = new RedisInbox(this);
    this.outbox = new RedisOutbox(this);
    this.leases = new RedisLeases(this);
    this.signals = new RedisSignals(this);
    redis.on('ready', () => this.changed());
    redis.on('close', () => this.changed());
  }

  private changed(): void {
    const available = this.available;
    if (available === this.wasAvailable || this.closed) return;
    this.wasAvailable = available;
    for (const listener of this.availability) listener(available);
  }

  /** Connects, or throws a StoreError saying which Redis could not be reached. */
  static async open(options: RedisOptions): Promise<RedisStore> {
    const where = maskUrl(options.url);
    const redis = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      // A command on its way when the connection drops fails at once and is never sent again:
      // resending a script that did run would report an event recorded by itself as a redelivery.
      // Its outcome is unknown to the caller (the core looks such admissions up once Redis is back).
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: connectTimeoutMs,
      commandTimeout: options.commandTimeoutMs ?? defaultCommandTimeoutMs,
      // Keep trying to come back, at most every 2 s; meanwhile commands fail and webhooks get 503.
      retryStrategy: (times) => Math.min(100 * 2 ** times, 2000),
    }) as Scripted;
    redis.defineCommand('sbAdmit', { numberOfKeys: 1, lua: lua.admit });
    redis.defineCommand('sbUpdate', { numberOfKeys: 0, lua: lua.update });
    redis.defineCommand('sbFinish', { numberOfKeys: 0, lua: lua.finish });
    redis.defineCommand('sbAdd', { numberOfKeys: 0, lua: lua.add });
    redis.defineCommand('sbChange', { numberOfKeys: 0, lua: lua.change });
    redis.defineCommand('sbDrop', { numberOfKeys: 0, lua: lua.drop });
    defineLeaseCommands(redis);
    defineUpdateCommand(redis);
    // A connection error between commands is reported by the commands themselves.
    redis.on('error', () => {});
    try {
      await redis.connect();
    } catch (error) {
      redis.disconnect();
      throw new StoreError(`cannot reach the Redis store at ${where} (${(error as Error).message}); start Redis or check store.url`);
    }
    return new RedisStore(redis, options.prefix, where, options.now ?? Date.now);
  }

  /** Connected and past Redis's own loading: ioredis's `ready`. */
  get available(): boolean {
    return !this.closed && this.redis.status === 'ready' && this.unanswered === undefined;
  }

  onAvailability(listener: (available: boolean) => void): void {
    this.availability.add(listener);
  }

  /** Runs a command; a failure is a StoreError that says the store cannot take it now. */
  async call<T>(run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError(`the Redis store at ${this.where} is closed`);
    try {
      return await run();
    } catch (error) {
      if ((error as Error).message === 'Command timed out') this.notAnswering();
      throw new StoreError(`the Redis store at ${this.where} cannot take this now (${(error as Error).message})`);
    }
  }

  /** Unavailable until Redis answers a PING again. */
  private notAnswering(): void {
    if (this.unanswered || this.closed) return;
    const probe = () => {
      this.redis.ping().then(
        () => {
          this.unanswered = undefined;
          this.changed();
        },
        () => {
          if (!this.closed) this.unanswered = setTimeout(probe, probeEveryMs);
        },
      );
    };
    this.unanswered = setTimeout(probe, 0);
    this.changed();
  }

  key(name: string): string {
    return `${this.prefix}${name}`;
  }

  claim(key: string, ttlMs: number): Promise<boolean> {
    return this.call(async () => (await this.redis.set(this.key(`kv:${key}`), 'true', 'PX', Math.max(1, Math.round(ttlMs)), 'NX')) === 'OK');
  }

  async get<T>(key: string): Promise<T | undefined> {
    const text = await this.call(() => this.redis.get(this.key(`kv:${key}`)));
    return text === null ? undefined : decode<T>(text);
  }

  async set(key: string, value: unknown, ttlMs?: number): Promise<void> {
    const text = encode(value);
    await this.call(() => (ttlMs === undefined || !Number.isFinite(ttlMs) ? this.redis.set(this.key(`kv:${key}`), text) : this.redis.set(this.key(`kv:${key}`), text, 'PX', Math.max(1, Math.round(ttlMs)))));
  }

  async delete(key: string): Promise<void> {
    await this.call(() => this.redis.del(this.key(`kv:${key}`)));
  }

  update<T>(key: string, change: (old: T | undefined) => T | undefined, ttlMs?: number): Promise<T | undefined> {
    return this.updates.update(this.key(`kv:${key}`), change, ttlMs);
  }

  notify(topic: string): Promise<void> {
    return this.signals.notify(topic);
  }

  watch(topic: string, listener: () => void): Promise<() => void> {
    return this.signals.watch(topic, listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.unanswered);
    this.signals.close();
    this.availability.clear();
    // Lets commands already sent finish, then closes.
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

class RedisInbox implements Inbox {
  constructor(private readonly store: RedisStore) {}

  async admit(event: NewEvent, dedupTtlMs: number): Promise<boolean> {
    const { store } = this;
    const dedup = event.key === undefined ? '' : store.key(`kv:${dedupKey(event.botId, event.key)}`);
    const meta = JSON.stringify({ botId: event.botId, key: event.key });
    const journal = encodeJournal(event.journal);
    return (await store.call(() => store.redis.sbAdmit(dedup, store.prefix, Math.max(1, Math.round(dedupTtlMs)), event.id, meta, journal))) === 1;
  }

  async update(id: string, journal: unknown): Promise<void> {
    const text = encodeJournal(journal);
    await this.store.call(() => this.store.redis.sbUpdate(this.store.prefix, id, text));
  }

  async finish(id: string, options?: FinishOptions): Promise<void> {
    const delivered = options?.replies === false ? '' : (options?.delivered ?? '');
    await this.store.call(() => this.store.redis.sbFinish(this.store.prefix, id, delivered));
  }

  admittedAs(botId: string, key: string): Promise<string | undefined> {
    return admittedAs(this.store, botId, key);
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    const { store } = this;
    // One round trip: auto-pipelining sends the three together.
    const [meta, journal, seq] = await store.call(() => Promise.all([store.redis.hget(store.key('events'), id), store.redis.hget(store.key('journal'), id), store.redis.zscore(store.key('order'), id)]));
    return meta && journal && seq !== null ? eventOf(id, meta, journal, Number(seq)) : undefined;
  }

  async unfinished(): Promise<StoredEvent[]> {
    const { store } = this;
    const ordered = await store.call(() => store.redis.zrange(store.key('order'), '0', '-1', 'WITHSCORES'));
    const ids: string[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < ordered.length; i += 2) {
      ids.push(ordered[i]!);
      seqs.push(Number(ordered[i + 1]));
    }
    if (ids.length === 0) return [];
    const [metas, journals] = await store.call(() => Promise.all([store.redis.hmget(store.key('events'), ...ids), store.redis.hmget(store.key('journal'), ...ids)]));
    const events: StoredEvent[] = [];
    ids.forEach((id, i) => {
      const meta = metas[i];
      const journal = journals[i];
      if (meta && journal) events.push(eventOf(id, meta, journal, seqs[i]!));
    });
    return events;
  }
}

class RedisOutbox implements Outbox {
  constructor(private readonly store: RedisStore) {}

  async add(items: readonly OutboxItem[]): Promise<void> {
    if (items.length === 0) return;
    const argv: (string | number)[] = [this.store.prefix, this.store.now()];
    for (const item of items) argv.push(item.key, item.eventId, item.index, encode(item.message));
    await this.store.call(() => this.store.redis.sbAdd(...argv));
  }

  async attempted(key: string, ids: readonly string[], error?: string): Promise<void> {
    await this.changeItem(key, '', JSON.stringify(ids), error ?? '', 1, '');
  }

  async delivered(key: string, ids: readonly string[]): Promise<void> {
    await this.changeItem(key, 'delivered', JSON.stringify(ids), '-', 1, '');
  }

  async dead(key: string, ids: readonly string[], error: string): Promise<void> {
    await this.changeItem(key, 'dead', JSON.stringify(ids), error, 0, '');
  }

  async get(key: string): Promise<OutboxRecord | undefined> {
    const fields = await this.store.call(() => this.store.redis.hgetall(this.store.key(`ob:${key}`)));
    return recordOf(key, fields);
  }

  async ofEvent(eventId: string): Promise<OutboxRecord[]> {
    const keys = await this.store.call(() => this.store.redis.smembers(this.store.key(`ob:ev:${eventId}`)));
    return (await this.records(keys)).sort((a, b) => a.index - b.index);
  }

  async list(state: OutboxState, limit = -1): Promise<OutboxRecord[]> {
    const keys = await this.store.call(() => this.store.redis.zrange(this.store.key(`ob:state:${state}`), '0', String(limit < 0 ? -1 : limit - 1)));
    return this.records(keys);
  }

  async retry(key: string): Promise<boolean> {
    return (await this.changeItem(key, 'retry', '', '', 0, 'dead')) === 1;
  }

  async drop(key: string): Promise<boolean> {
    return (await this.store.call(() => this.store.redis.sbDrop(this.store.prefix, key))) === 1;
  }

  private changeItem(key: string, state: OutboxState | '', ids: string, error: string, attempts: number, requires: OutboxState | ''): Promise<number> {
    return this.store.call(() => this.store.redis.sbChange(this.store.prefix, key, this.store.now(), state, ids, error, attempts, requires));
  }

  private async records(keys: string[]): Promise<OutboxRecord[]> {
    const all = await this.store.call(() => Promise.all(keys.map((key) => this.store.redis.hgetall(this.store.key(`ob:${key}`)))));
    const records: OutboxRecord[] = [];
    keys.forEach((key, i) => {
      const record = recordOf(key, all[i]!);
      if (record) records.push(record);
    });
    return records;
  }
}

function eventOf(id: string, meta: string, journal: string, seq: number): StoredEvent {
  const { botId, key } = JSON.parse(meta) as { botId: string; key?: string };
  return { id, botId, key, seq, journal: decode(journal) };
}

function recordOf(key: string, fields: Record<string, string>): OutboxRecord | undefined {
  if (!fields.state) return undefined;
  return {
    key,
    eventId: fields.eventId!,
    index: Number(fields.index),
    message: decode(fields.message!),
    state: fields.state as OutboxState,
    ids: JSON.parse(fields.ids ?? '[]') as string[],
    ...(fields.error === undefined ? {} : { error: fields.error }),
    attempts: Number(fields.attempts ?? 0),
    createdAt: Number(fields.created),
    updatedAt: Number(fields.updated),
  };
}

/** A Redis URL for logs and errors: its password masked. */
function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '********';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return 'redis (an unreadable URL)';
  }
}
