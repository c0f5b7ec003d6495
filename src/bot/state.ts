// What a bot keeps between messages (ctx.state): JSON values in the configured store, under
// `state:` keys of their own, in four scopes. A scope's keys are prefixed with the platform
// entry's id (botId) and the user's or chat's id, so two platform entries never see each
// other's keys; `global` is the one scope they share.

import type { KeyValue } from '../store/index.js';
import { duration } from '../runtime/units.js';

export interface StateOptions {
  /** How long the value lives: "30s", "10m", "7d", or milliseconds. Without it, a set value lives until deleted, an updated one keeps its expiry. */
  ttl?: string | number;
}

/** One scope's keys. Values are JSON (Uint8Array kept as bytes); what get returns is a copy. */
export class StateScope {
  constructor(
    private readonly store: KeyValue,
    /** Ends with ':'; the author's key follows as it is. */
    private readonly prefix: string,
    private readonly name: string,
  ) {}

  // Async throughout, so bad input is a rejection, as a store failure is, never a throw.
  async get<T = unknown>(key: string): Promise<T | undefined> {
    return this.store.get<T>(this.key(key));
  }

  /** Stores `value`; undefined deletes the key. */
  async set<T>(key: string, value: T, options?: StateOptions): Promise<void> {
    if (value === undefined) return this.delete(key);
    notJson(this.name, key, value);
    return this.store.set(this.key(key), value, ttlOf(this.name, key, options));
  }

  /**
   * `fn` gets the current value (undefined if none) and returns the new one (undefined deletes
   * it), as one step no other update of the key can interleave with, across processes too. `fn`
   * may run more than once, so it must not have side effects. Resolves to the value written.
   */
  async update<T>(key: string, fn: (old: T | undefined) => T | undefined, options?: StateOptions): Promise<T | undefined> {
    const ttl = ttlOf(this.name, key, options);
    return this.store.update<T>(this.key(key), (old) => {
      const next = fn(old);
      if (next !== undefined) notJson(this.name, key, next);
      return next;
    }, ttl);
  }

  async delete(key: string): Promise<void> {
    return this.store.delete(this.key(key));
  }

  private key(key: string): string {
    if (typeof key !== 'string' || key === '') throw new TypeError(`ctx.state.${this.name}: a key is a non-empty string, got ${typeof key === 'string' ? 'an empty one' : typeof key}`);
    return this.prefix + key;
  }
}

/** ctx.state: made when first touched, each scope too, so a message that keeps no state pays nothing. */
export class State {
  private scopes: { user?: StateScope; chat?: StateScope; bot?: StateScope; global?: StateScope } = {};

  constructor(
    private readonly store: KeyValue,
    private readonly botId: string,
    private readonly userId: string | undefined,
    private readonly chatId: string | undefined,
  ) {}

  /** This user, on this platform entry. */
  get user(): StateScope {
    if (this.userId === undefined) throw new Error('ctx.state.user: this event names no user (use ctx.state.bot or ctx.state.global)');
    return (this.scopes.user ??= new StateScope(this.store, `state:user:${this.botId}:${idPart(this.userId)}:`, 'user'));
  }

  /** This chat (a direct chat, a group, a channel), on this platform entry. */
  get chat(): StateScope {
    if (this.chatId === undefined) throw new Error('ctx.state.chat: this event names no chat (use ctx.state.bot or ctx.state.global)');
    return (this.scopes.chat ??= new StateScope(this.store, `state:chat:${this.botId}:${idPart(this.chatId)}:`, 'chat'));
  }

  /** This platform entry (its config id): every user and chat it serves. */
  get bot(): StateScope {
    return (this.scopes.bot ??= new StateScope(this.store, `state:bot:${this.botId}:`, 'bot'));
  }

  /** Shared by every platform entry using this store. */
  get global(): StateScope {
    return (this.scopes.global ??= new StateScope(this.store, 'state:global:', 'global'));
  }
}

/** A platform's id may hold ':' (it ends the id in a key) or '%' (the escape): both are escaped, so no two ids make one prefix. */
function idPart(id: string): string {
  return /[%:]/.test(id) ? id.replace(/%/g, '%25').replace(/:/g, '%3A') : id;
}

function ttlOf(scope: string, key: string, options: StateOptions | undefined): number | undefined {
  if (options?.ttl === undefined) return undefined;
  const parsed = duration.safeParse(options.ttl);
  if (!parsed.success || parsed.data <= 0) throw new TypeError(`ctx.state.${scope} "${key}": ttl is a duration like 30s, 10m or 7d, or a positive number of milliseconds; got ${JSON.stringify(options.ttl)}`);
  return parsed.data;
}

/** What JSON cannot hold at the top is refused here, not turned into null or an error deep in a backend. */
function notJson(scope: string, key: string, value: unknown): void {
  const type = typeof value;
  if (type === 'function' || type === 'symbol' || type === 'bigint') throw new TypeError(`ctx.state.${scope} "${key}": values are JSON (strings, numbers, booleans, null, arrays, plain objects); got a ${type}`);
}
