// State that must survive a restart (and, with a shared backend, be seen by every instance):
// dedup keys, the inbox and journal of events, the outbox of replies, small key-value state.
// Backends implement this interface and keep their query language to themselves.

import type { OutgoingMessage } from '../message.js';

/** Small values with a time to live: tokens, API keys, a polling offset. */
export interface KeyValue {
  /**
   * Take `key` for `ttlMs`. Resolves true the first time, false while it is still held,
   * which is how a caller makes sure something happens once.
   */
  claim(key: string, ttlMs: number): Promise<boolean>;
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown, ttlMs?: number): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Reads `key`, passes its value to `change` and writes what that returns (undefined deletes the
   * key) as one step: no write by another caller, or another instance sharing the store, lands in
   * between. `change` may be called more than once, on newer values (Redis retries when the value
   * moved under it), so it must not have side effects. With `ttlMs` the new value lives that long;
   * without, it keeps the expiry the key had. Resolves to what was written.
   */
  update<T>(key: string, change: (old: T | undefined) => T | undefined, ttlMs?: number): Promise<T | undefined>;
}

/** An event as it is admitted: recorded before the platform is told it was received. */
export interface NewEvent {
  /** Switchboard's own id for the event (the eventId every callback sees). */
  id: string;
  /** Config id of the platform instance that received it. */
  botId: string;
  /** The platform's id for the delivery (update_id, event_id…): a second event with the same key is a redelivery. */
  key?: string;
  /** How far the event got, with the data of its last finished stage; the pipeline's, opaque to the store. */
  journal: unknown;
}

export interface StoredEvent extends NewEvent {
  /** Admission order: events of one chat are resumed in it. */
  seq: number;
}

/** `delivered`: the key of a reply of this event the platform has just taken, not marked delivered: forgotten with the others. */
export type FinishOptions = { replies: false } | { replies: true; delivered?: string };

export interface Inbox {
  /** Records a new event together with its dedup key. False, and nothing written, when the key was taken within `dedupTtlMs` (a redelivery). */
  admit(event: NewEvent, dedupTtlMs: number): Promise<boolean>;
  /** Saves how far an event got. */
  update(id: string, journal: unknown): Promise<void>;
  /**
   * The event is done: it is forgotten, and so are its delivered replies (its dedup key lives on
   * until its TTL). `{ replies: false }`: the caller knows it put none in the outbox, so there are none to look for.
   * `delivered`: a reply of this event the platform has just taken, not yet marked delivered (its
   * ids are not kept, as it is forgotten here): one write instead of Outbox.delivered and then this
   * (the hot path's last two).
   */
  finish(id: string, options?: FinishOptions): Promise<void>;
  /** The id of the event admitted with this dedup key, while the key is remembered. */
  admittedAs(botId: string, key: string): Promise<string | undefined>;
  /** An event admitted and not finished; undefined once it is finished (or was never admitted). */
  get(id: string): Promise<StoredEvent | undefined>;
  /** Events admitted and not finished, in admission order. */
  unfinished(): Promise<StoredEvent[]>;
}

/**
 * - `pending`: recorded, not yet delivered (a send may be under way, or the process stopped first)
 * - `delivered`: the platform took every part; never sent again
 * - `dead`: the retry policy gave up; kept with its error for an operator
 * - `retry`: an operator asked for a dead letter to be sent again
 */
export type OutboxState = 'pending' | 'delivered' | 'dead' | 'retry';

export interface OutboxItem {
  /** Stable across restarts: `<eventId>:<index>`. Platforms that take an idempotency key get one made from it. */
  key: string;
  eventId: string;
  index: number;
  message: OutgoingMessage;
}

export interface OutboxRecord extends OutboxItem {
  state: OutboxState;
  /** Platform message ids of the parts sent so far; a retry goes on after them. */
  ids: string[];
  error?: string;
  /** Sends tried, across restarts. */
  attempts: number;
  createdAt: number;
  updatedAt: number;
}

/** A just-recorded item as the outbox holds it (one literal, not a spread: this is on every message's path). */
export function pendingRecord(item: OutboxItem, at: number): OutboxRecord {
  return { key: item.key, eventId: item.eventId, index: item.index, message: item.message, state: 'pending', ids: [], attempts: 0, createdAt: at, updatedAt: at };
}

export interface Outbox {
  /** Records reply items before anything is sent. An item already recorded under its key is kept as it is. */
  add(items: readonly OutboxItem[]): Promise<void>;
  /** A send was tried: the parts delivered so far, and why it failed if it did. */
  attempted(key: string, ids: readonly string[], error?: string): Promise<void>;
  delivered(key: string, ids: readonly string[]): Promise<void>;
  /** The retry policy gave up: kept, with its error, as a dead letter. */
  dead(key: string, ids: readonly string[], error: string): Promise<void>;
  get(key: string): Promise<OutboxRecord | undefined>;
  /** Items of one event, in order. */
  ofEvent(eventId: string): Promise<OutboxRecord[]>;
  /** Items in a state, oldest first. */
  list(state: OutboxState, limit?: number): Promise<OutboxRecord[]>;
  /** Dead letter -> `retry`, for the running process to send. False if there is no dead letter with this key. */
  retry(key: string): Promise<boolean>;
  /** Forgets a dead letter. False if there is no dead letter with this key. */
  drop(key: string): Promise<boolean>;
}

/** A holder's proof of its lease: writes made under it are refused once the lease was granted to another since. */
export interface Fence {
  lease: string;
  /** Grows with every grant of the lease. */
  token: number;
}

export type LeaseGrant = { granted: true; fence: number } | { granted: false; expiresInMs: number };

/**
 * Named leases, each held by one owner at a time until its TTL runs out (a connection that one
 * instance of many must hold). Stores that serve one process grant every request at once.
 */
export interface Leases {
  /** Takes `name` for `owner` unless another owner holds it; refused, it says how long the holder's lease has left. */
  acquire(name: string, owner: string, ttlMs: number): Promise<LeaseGrant>;
  /** Extends the lease of `owner`; false when it no longer holds it (it expired, or another owner took it). */
  renew(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if `owner` still holds it, so another can take it at once. */
  release(name: string, owner: string): Promise<void>;
  /** Sets key-value `key` unless `fence.lease` has been granted again since `fence.token`; false when refused. */
  setFenced(fence: Fence, key: string, value: unknown, ttlMs?: number): Promise<boolean>;
  /**
   * Marks `instance` live on `roster` for `ttlMs` more and says how many are live there (itself
   * included): what holders of a group of leases share. Instances that hold connections and
   * instances that run workers are counted on rosters of their own.
   */
  announce(instance: string, ttlMs: number, roster?: string): Promise<number>;
  /** Marks `instance` gone from `roster` at once (it shuts down), so the others count without it. */
  withdraw(instance: string, roster?: string): Promise<void>;
}

/**
 * Wake-ups between the instances that share a store: "something under this topic changed, look
 * again". A signal carries no data and may be lost or doubled (a reconnect wakes every watcher
 * once): a watcher re-reads the store when woken and never relies on a signal alone.
 */
export interface Signals {
  /** Wakes every watcher of `topic`, in this process and in every instance sharing the store. */
  notify(topic: string): Promise<void>;
  /** Calls `listener` on each notify(topic); resolves, once signals can reach it, with the function that stops it. */
  watch(topic: string, listener: () => void): Promise<() => void>;
}

export interface Store extends KeyValue, Signals {
  /** What this store is, for logs and /healthz ("sqlite ./data/switchboard.db", "memory"). */
  readonly description: string;
  /**
   * Other instances read and write this store at the same time (Redis): state that must be the
   * same on every instance lives in it. False: this process is its only user, so such state may
   * stay in memory.
   */
  readonly shared: boolean;
  /**
   * Whether the store can take a write now: cheap and synchronous, as it is asked on every webhook.
   * False while a networked backend has lost its connection (it keeps trying to come back), and once closed.
   */
  readonly available: boolean;
  /** Calls `listener` each time `available` changes while open; backends that cannot lose their connection leave it out. */
  onAvailability?(listener: (available: boolean) => void): void;
  readonly inbox: Inbox;
  readonly outbox: Outbox;
  readonly leases: Leases;
  /** Writes everything queued so far, then releases the backend. Idempotent. */
  close(): Promise<void>;
}

/** The key-value entry that remembers an event's dedup key, holding the event's id. */
export function dedupKey(botId: string, key: string): string {
  return `dedup:${botId}:${key}`;
}

/** admittedAs for a backend whose dedup keys are key-value entries holding the event's id. */
export async function admittedAs(kv: KeyValue, botId: string, key: string): Promise<string | undefined> {
  const id = await kv.get<unknown>(dedupKey(botId, key));
  return typeof id === 'string' ? id : undefined;
}

/** The store cannot be opened or cannot take a write; the message says what to do about it. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
}

export { MemoryStore } from './memory.js';
export { LocalSignals } from './signals.js';
