// Pacing shared by every instance that sends for the same bots: the platform's limit is one
// budget however many instances spend it. Each bucket is the same GCRA as Pacer's (one
// timestamp), kept in Redis and moved by one Lua script, so a reservation reads and writes every
// bucket it falls in atomically, on the server's clock (instances' clocks may drift apart).

import type { Redis } from 'ioredis';
import { gcraOf, Pacer, rateFor, type Pacing, type Rate, type SendLimits } from '../delivery/pacer.js';
import { sleep } from '../delivery/retry.js';
import type { ChannelRef } from '../message.js';
import type { Store } from '../store/index.js';
import { RedisStore } from '../store/redis/index.js';

/**
 * KEYS: the buckets. ARGV: per bucket interval ms, tolerance ms, declared (1, or 0 for a bucket
 * that only a hold made: used while it lasts, not created). Returns the slot's time and now, in ms
 * on the server's clock. A bucket idle for `idle` ms expires.
 */
const reserveScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local idle = 60000
local at = now
local tats = {}
for i = 1, #KEYS do
  local tat = redis.call('GET', KEYS[i])
  if tat or ARGV[i * 3] == '1' then
    tats[i] = tonumber(tat) or 0
    local start = tats[i] - tonumber(ARGV[i * 3 - 1])
    if start > at then at = start end
  end
end
for i = 1, #KEYS do
  if tats[i] then
    local tat = math.max(tats[i], at) + tonumber(ARGV[i * 3 - 2])
    redis.call('SET', KEYS[i], string.format('%.3f', tat), 'PX', math.ceil(tat - now + idle))
  end
end
return { string.format('%.3f', at), string.format('%.3f', now) }
`;

/** KEYS: one bucket. ARGV: wait ms, tolerance ms. Nothing goes through it before now + wait. */
const holdScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = math.max(tonumber(redis.call('GET', KEYS[1])) or 0, now + tonumber(ARGV[1]) + tonumber(ARGV[2]))
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now + 60000))
return 1
`;

type Scripted = Redis & {
  sbPace(keys: number, ...args: (string | number)[]): Promise<[string, string]>;
  sbPaceHold(keys: number, ...args: (string | number)[]): Promise<number>;
};

/** What a hold() leaves for a limit that was not declared: Pacer's, one send per millisecond. */
const undeclared: Rate = { count: 1, perMs: 1 };

export class SharedPacer implements Pacing {
  private readonly redis: Scripted;
  /** While Redis cannot be reached, sends are paced by this process alone rather than not at all. */
  private readonly local: Pacer;

  constructor(
    private readonly store: RedisStore,
    private readonly limitsOf: (botId: string) => SendLimits | undefined,
  ) {
    this.redis = store.redis as unknown as Scripted;
    this.redis.defineCommand('sbPace', { lua: reserveScript });
    this.redis.defineCommand('sbPaceHold', { lua: holdScript });
    this.local = new Pacer(limitsOf);
  }

  async reserve(to: ChannelRef): Promise<number> {
    const slot = await this.reserveAt(to);
    return slot ? Math.max(0, slot.at - slot.now) : this.local.reserve(to);
  }

  /** The slot on the server's clock, or undefined when Redis cannot be asked (or nothing paces this send). */
  async reserveAt(to: ChannelRef): Promise<{ at: number; now: number } | undefined> {
    const limits = this.limitsOf(to.botId);
    const keys: string[] = [];
    const args: (string | number)[] = [];
    for (const [key, rate] of [[this.botKey(to), limits?.bot], [this.chatKey(to), rateFor(limits?.chat, to.type)]] as const) {
      const { intervalMs, toleranceMs } = gcraOf(rate ?? undeclared);
      keys.push(key);
      args.push(intervalMs, toleranceMs, rate ? 1 : 0);
    }
    try {
      const [at, now] = await this.store.call(() => this.redis.sbPace(keys.length, ...keys, ...args));
      return { at: Number(at), now: Number(now) };
    } catch {
      return undefined;
    }
  }

  async take(to: ChannelRef, signal?: AbortSignal): Promise<boolean> {
    return sleep(await this.reserve(to), signal);
  }

  hold(to: ChannelRef, afterMs: number, scope: 'bot' | 'chat'): void {
    this.local.hold(to, afterMs, scope);
    const limits = this.limitsOf(to.botId);
    const [key, rate] = scope === 'bot' ? [this.botKey(to), limits?.bot] : [this.chatKey(to), rateFor(limits?.chat, to.type)];
    const { toleranceMs } = gcraOf(rate ?? undeclared);
    void this.store.call(() => this.redis.sbPaceHold(1, key, afterMs, toleranceMs)).catch(() => {});
  }

  private botKey(to: ChannelRef): string {
    return this.store.key(`pace:bot:${to.botId}`);
  }

  private chatKey(to: ChannelRef): string {
    return this.store.key(`pace:chat:${to.botId}:${to.channelId}`);
  }
}

/** Pacing for a pipeline on `store`: shared through Redis when the store is Redis; otherwise the pipeline's own Pacer. */
export function pacingFor(store: Store): ((limitsOf: (botId: string) => SendLimits | undefined) => Pacing) | undefined {
  return store instanceof RedisStore ? (limitsOf) => new SharedPacer(store, limitsOf) : undefined;
}
