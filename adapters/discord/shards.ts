// How many shards the bot runs when its config says `shardCount: auto`: the count Discord
// recommends for its guilds, asked once at start (every instance asks alike, and gets the same
// answer unless the bot grew in between; events a changed count doubles are deduplicated).

import type { REST, RESTGetAPIGatewayBotResult } from 'discord.js';
import { Routes } from './sdk.js';
import { retry } from '../../src/delivery/retry.js';
import type { Logger } from '../../src/runtime/logger.js';
import { classify, describe } from './errors.js';

/** GET /gateway/bot's `shards`, retried under the core's policy; a refused token or no answer fails the start with the reason. */
export async function recommendedShards(rest: REST, logger: Logger): Promise<number> {
  try {
    const info = (await retry(() => rest.get(Routes.gatewayBot()) as Promise<RESTGetAPIGatewayBotResult>, {
      classify,
      onRetry: (error, waitMs) => logger.warn({ err: describe(error), retryInMs: waitMs }, 'could not ask Discord for the shard count; trying again'),
    })) as RESTGetAPIGatewayBotResult;
    logger.info({ shards: info.shards, maxConcurrency: info.session_start_limit.max_concurrency }, 'shard count from Discord');
    return Math.max(1, info.shards);
  } catch (error) {
    if ((error as { status?: number }).status === 401) throw new Error('Discord rejected the bot token (401); check platforms[].token');
    throw new Error(`could not ask Discord for the shard count (GET /gateway/bot): ${describe(error)}; set platforms[].shardCount to a number to start without it`);
  }
}
