// KeyValue.update on Redis: read the value, run the caller's change here, then write it with a
// compare-and-set script that refuses if the value moved in between; refused, read again and run
// the change again. WATCH/MULTI would need a connection of its own per update (WATCH belongs to a
// connection, and this one is shared and pipelined). Updates of one key in this process wait for
// each other, so only other instances ever make one retry.

import type { Redis } from 'ioredis';
import { decode, encode } from '../codec.js';
import { StoreError } from '../index.js';

/**
 * KEYS[1]: the key. ARGV: '1' if it was read present, the text read, '1' to write ('0' deletes),
 * the text to write, ttl ms ('' keeps the key's expiry). 0 refused: the key no longer holds what was read.
 */
const compareAndSet = `
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then return 0 end
if ARGV[3] == '0' then redis.call('DEL', KEYS[1])
elseif ARGV[5] == '' then redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
else redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5]) end
return 1
`;

type UpdateRedis = Redis & { sbCompareAndSet(key: string, present: string, read: string, write: string, text: string, ttlMs: number | ''): Promise<number> };

export function defineUpdateCommand(redis: Redis): void {
  redis.defineCommand('sbCompareAndSet', { numberOfKeys: 1, lua: compareAndSet });
}

interface RedisAccess {
  readonly redis: Redis;
  call<T>(run: () => Promise<T>): Promise<T>;
}

/** Refused this often in a row (other instances kept winning), an update gives up rather than spin. */
const maxTries = 50;

export class RedisUpdates {
  /** The last update queued per key in this process; removed once it settles. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(private readonly store: RedisAccess) {}

  update<T>(redisKey: string, change: (old: T | undefined) => T | undefined, ttlMs?: number): Promise<T | undefined> {
    const before = this.tails.get(redisKey);
    const run = before ? before.then(ignore, ignore).then(() => this.tryUntilSet(redisKey, change, ttlMs)) : this.tryUntilSet(redisKey, change, ttlMs);
    this.tails.set(redisKey, run);
    const forget = () => {
      if (this.tails.get(redisKey) === run) this.tails.delete(redisKey);
    };
    run.then(forget, forget);
    return run;
  }

  private async tryUntilSet<T>(redisKey: string, change: (old: T | undefined) => T | undefined, ttlMs?: number): Promise<T | undefined> {
    const redis = this.store.redis as UpdateRedis;
    const ttl = ttlMs === undefined || !Number.isFinite(ttlMs) ? '' : Math.max(1, Math.round(ttlMs));
    for (let tries = 1; ; tries++) {
      const read = await this.store.call(() => redis.get(redisKey));
      const next = change(read === null ? undefined : decode<T>(read));
      const text = next === undefined ? '' : encode(next);
      const written = await this.store.call(() => redis.sbCompareAndSet(redisKey, read === null ? '0' : '1', read ?? '', next === undefined ? '0' : '1', text, ttl));
      if (written === 1) return next;
      if (tries >= maxTries) throw new StoreError(`an update of ${redisKey} was refused ${maxTries} times in a row: other instances kept changing it first`);
      // A short random pause, so instances that collided do not collide again in step.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(tries, 10)));
    }
  }
}

function ignore(): void {}
