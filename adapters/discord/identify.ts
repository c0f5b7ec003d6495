// Discord's identify limit, kept across every instance of Switchboard: shard n identifies in bucket
// n % max_concurrency, and a bucket takes one IDENTIFY per 5 s for the whole bot, wherever its
// shards run. Before each IDENTIFY (never before a RESUME) the shard takes the bucket's claim in
// the store for that window; the store's claim is atomic (on Redis too), so two instances never
// take it at once. This replaces @discordjs/ws's own throttler, which only knows its process.

import { setTimeout as sleep } from 'node:timers/promises';
import type { KeyValue } from '../../src/store/index.js';
import { errorMessage } from '../../src/inbound/supervisor.js';
import type { Logger } from '../../src/runtime/logger.js';

/** @discordjs/ws's IIdentifyThrottler. */
export interface IdentifyThrottler {
  waitForIdentify(shardId: number, signal: AbortSignal): Promise<void>;
}

export interface IdentifyWindow {
  store: KeyValue;
  /** Names the bot: the claims are `<prefix>:<bucket>`. */
  prefix: string;
  /** From GET /gateway/bot: session_start_limit.max_concurrency. */
  maxConcurrency: number;
  windowMs: number;
  logger: Logger;
}

/**
 * The claim outlasts the window a little: Discord times IDENTIFYs as they arrive, and one sent
 * right after its claim may arrive later than the next bucket-mate's, sent right after its own.
 */
function claimMs(windowMs: number): number {
  return windowMs + Math.min(500, windowMs / 10);
}

/** How often a shard asks again for a bucket another one holds: a small part of the window. */
function pollMs(windowMs: number): number {
  return Math.max(50, Math.min(250, windowMs / 10));
}

export function identifyThrottler({ store, prefix, maxConcurrency, windowMs, logger }: IdentifyWindow): IdentifyThrottler {
  const buckets = Math.max(1, maxConcurrency);
  return {
    async waitForIdentify(shardId, signal) {
      if (windowMs <= 0) return;
      const key = `${prefix}:${shardId % buckets}`;
      for (;;) {
        signal.throwIfAborted();
        try {
          if (await store.claim(key, claimMs(windowMs))) return;
        } catch (error) {
          // Without the store no instance can tell who identified last; waiting is the safe side.
          logger.debug({ err: errorMessage(error) }, 'could not take the identify claim; trying again');
        }
        // Jitter, so that shards waiting on one bucket do not all ask at the same instant.
        await sleep(pollMs(windowMs) * (0.5 + Math.random() / 2), undefined, { signal });
      }
    },
  };
}
