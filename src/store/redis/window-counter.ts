// The per-user limits' counter shared by every instance on one Redis and prefix: a window is
// one key, counted and given its deadline by one Lua script, so two instances counting the same
// user at once never both see the same count, and the window runs on the server's clock.

import type { Redis } from 'ioredis';
import type { Store } from '../index.js';
import { LocalWindowCounter, type WindowCount, type WindowCounter } from '../window-counter.js';
import { RedisStore } from './index.js';

/**
 * KEYS[1]: the window. ARGV[1]: its length in ms. Returns the count, this hit included, and the
 * ms the window has left. A key found without a deadline (written by hand) is given one.
 */
const hitScript = `
local count = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if count == 1 or left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return { count, left }
`;

type Scripted = Redis & { sbLimitHit(keys: number, key: string, windowMs: number): Promise<[number, number]> };

export class RedisWindowCounter implements WindowCounter {
  private readonly redis: Scripted;
  /** While Redis cannot be reached, users are counted by this process alone rather than not at all. */
  private readonly local = new LocalWindowCounter();

  constructor(private readonly store: RedisStore) {
    this.redis = store.redis as unknown as Scripted;
    this.redis.defineCommand('sbLimitHit', { lua: hitScript });
  }

  async hit(key: string, windowMs: number): Promise<WindowCount> {
    try {
      const [count, resetMs] = await this.store.call(() => this.redis.sbLimitHit(1, this.store.key(`limit:${key}`), windowMs));
      return { count, resetMs };
    } catch {
      return this.local.hit(key, windowMs);
    }
  }
}

/** The counter for a pipeline on `store`: shared through Redis when the store is Redis; otherwise this process's own. */
export function windowCounterFor(store: Store): WindowCounter {
  return store instanceof RedisStore ? new RedisWindowCounter(store) : new LocalWindowCounter();
}
