// Paces sends to the limits a platform declares, per bot and per chat, so a burst is spread out
// instead of collecting 429s. Each limit is a GCRA bucket (a token bucket kept as one timestamp):
// a send reserves its slot in every bucket it falls in, then waits until that slot comes.

import { z } from 'zod';
import type { ChannelRef, ChannelType } from '../message.js';
import { perUserSchema } from '../pipeline/limits.js';
import { duration } from '../runtime/units.js';
import { sleep } from './retry.js';

export interface Rate {
  /** Sends allowed per `perMs`, on average. */
  count: number;
  perMs: number;
  /** Sends that may go at once after a quiet spell (default 1: evenly spaced). */
  burst?: number;
}

/** What a platform allows one bot to send. */
export interface SendLimits {
  /** Everything the bot sends. */
  bot?: Rate;
  /** Each chat; by the chat's type where the platform sets different limits (`default` for the rest). */
  chat?: Rate | Partial<Record<ChannelType | 'default', Rate>>;
}

/**
 * What the deliverer paces sends with: this process's buckets (Pacer), or buckets every instance
 * sending for the same bots shares (src/cluster/shared-pacer.ts).
 */
export interface Pacing {
  /** Reserves the next slot for a send to `to`; how long until it comes (0: now). */
  reserve(to: ChannelRef): number | Promise<number>;
  /** Waits for this send's turn; false when `signal` aborted the wait. */
  take(to: ChannelRef, signal?: AbortSignal): Promise<boolean>;
  /** The platform said "too many": nothing more goes to this bot (or this chat) for `afterMs`. */
  hold(to: ChannelRef, afterMs: number, scope: 'bot' | 'chat'): void;
}

interface Bucket {
  /** GCRA's theoretical arrival time: when the bucket is fully drained again. */
  tat: number;
  intervalMs: number;
  toleranceMs: number;
}

/** Buckets kept at most by default: far more chats than one process sends to within a few seconds. */
const defaultMaxBuckets = 100_000;

/**
 * Bounded: a drained bucket (its slot time passed) is forgotten, which loses nothing, as a chat
 * that sends again gets the full burst a fresh bucket gives; they are swept every 1000 sends and
 * whenever the map passes `maxBuckets`. Past the bound with every bucket still running, the
 * oldest go (those chats start afresh: under that pressure pacing gives way, not memory).
 */
export class Pacer implements Pacing {
  private readonly buckets = new Map<string, Bucket>();
  private reservations = 0;
  private readonly maxBuckets: number;

  constructor(
    private readonly limitsOf: (botId: string) => SendLimits | undefined,
    private readonly now: () => number = Date.now,
    options: { maxBuckets?: number } = {},
  ) {
    this.maxBuckets = options.maxBuckets ?? defaultMaxBuckets;
  }

  /** Buckets held now. */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Waits for this send's turn. False when `signal` aborted the wait (shutdown); the slot it
   * reserved is then simply unused.
   */
  take(to: ChannelRef, signal?: AbortSignal): Promise<boolean> {
    return sleep(this.reserve(to), signal);
  }

  /** Reserves the next slot for a send to `to` in every bucket it falls in; returns how long until that slot (0: now). */
  reserve(to: ChannelRef): number {
    const limits = this.limitsOf(to.botId);
    const bot = this.find(to.botId, limits?.bot);
    const chat = this.find(`${to.botId}\0${to.channelId}`, rateFor(limits?.chat, to.type));
    if (!bot && !chat) return 0;
    const now = this.now();
    let at = now;
    for (const b of [bot, chat]) if (b) at = Math.max(at, b.tat - b.toleranceMs);
    for (const b of [bot, chat]) if (b) b.tat = Math.max(b.tat, at) + b.intervalMs;
    if (++this.reservations % 1000 === 0 || this.buckets.size > this.maxBuckets) this.forget(now);
    return at - now;
  }

  /** The platform said "too many": nothing more goes to this bot (or this chat) for `afterMs`. */
  hold(to: ChannelRef, afterMs: number, scope: 'bot' | 'chat'): void {
    const limits = this.limitsOf(to.botId);
    const [key, rate] = scope === 'bot' ? [to.botId, limits?.bot] : [`${to.botId}\0${to.channelId}`, rateFor(limits?.chat, to.type)];
    // A limit the platform did not declare still holds for the wait it asked for.
    const bucket = this.bucket(key, rate ?? { count: 1, perMs: 1 });
    bucket.tat = Math.max(bucket.tat, this.now() + afterMs + bucket.toleranceMs);
    if (this.buckets.size > this.maxBuckets) this.forget(this.now());
  }

  /** The bucket for a declared rate, or one a hold() made for an undeclared one. */
  private find(key: string, rate: Rate | undefined): Bucket | undefined {
    return rate ? this.bucket(key, rate) : this.buckets.get(key);
  }

  private bucket(key: string, rate: Rate): Bucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tat: 0, ...gcraOf(rate) };
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  /**
   * Drained buckets go; past the bound, then the oldest made too, down to 90% of it so a full map
   * is not swept on every new chat. What a send reserved is already returned: a bucket dropped
   * with its slot ahead costs its chat no more than a fresh burst.
   */
  private forget(now: number): void {
    for (const [key, bucket] of this.buckets) if (bucket.tat <= now) this.buckets.delete(key);
    if (this.buckets.size <= this.maxBuckets) return;
    const keep = Math.max(1, Math.floor(this.maxBuckets * 0.9));
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= keep) return;
      this.buckets.delete(key);
    }
  }
}

/** GCRA's numbers for a rate: the spacing of sends, and how far ahead of it a burst may run. */
export function gcraOf(rate: Rate): { intervalMs: number; toleranceMs: number } {
  const intervalMs = rate.perMs / rate.count;
  return { intervalMs, toleranceMs: intervalMs * (Math.max(1, rate.burst ?? 1) - 1) };
}

export function rateFor(chat: SendLimits['chat'], type: ChannelType | undefined): Rate | undefined {
  if (!chat) return undefined;
  if ('count' in chat && typeof chat.count === 'number') return chat as Rate;
  const byType = chat as Partial<Record<ChannelType | 'default', Rate>>;
  return (type && byType[type]) ?? byType.default;
}

const rateSchema = z
  .strictObject({ count: z.number().positive(), per: duration.refine((ms) => ms > 0, 'a duration above 0'), burst: z.number().int().min(1).optional() })
  .transform(({ count, per, burst }): Rate => ({ count, perMs: per, ...(burst === undefined ? {} : { burst }) }));

/**
 * `limits:` on a platform entry: the operator's own numbers instead of the ones the adapter
 * declares (a raised quota, Telegram's paid broadcasts, a local test server), or `false` for none.
 * `perUser` is not a send limit (src/pipeline/limits.ts): alone, it leaves the declared ones be.
 */
const sendLimits = {
  bot: rateSchema.optional(),
  chat: z.union([rateSchema, z.strictObject({ direct: rateSchema.optional(), group: rateSchema.optional(), channel: rateSchema.optional(), thread: rateSchema.optional(), default: rateSchema.optional() })]).optional(),
};
const limitsObject = z.strictObject({ perUser: perUserSchema.optional(), ...sendLimits });
/** `perUser: false`: no per-user limit on this platform, whatever the top level says. */
const perUserOff = z.strictObject({ perUser: z.literal(false), ...sendLimits });

/** `false` is told apart first, so a mistake inside the mapping is reported where it is (a union would only say "invalid"). */
export const limitsSchemaFor = (value: unknown) => (value === false ? z.literal(false) : (value as { perUser?: unknown } | null)?.perUser === false ? perUserOff : limitsObject);

export type LimitsConfig = false | z.output<typeof limitsObject> | z.output<typeof perUserOff>;

/** What a platform's `limits:` says of sending: undefined (the adapter's declared limits) when it names only perUser. */
export function sendLimitsOf(limits: LimitsConfig | undefined): SendLimits | false | undefined {
  if (!limits) return limits;
  const { perUser, ...send } = limits;
  return perUser !== undefined && Object.keys(send).length === 0 ? undefined : send;
}
