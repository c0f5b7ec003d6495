import type * as ApiTypes from 'discord-api-types/v10';
import { z } from 'zod';
import { proxyUrl } from '../../src/net/proxy-url.js';
import { secret } from '../../src/runtime/secret.js';
import { duration, httpUrl } from '../../src/runtime/units.js';
import { requireCommonJs } from '../../src/runtime/require-commonjs.js';

// Required, not imported: the ES entry of discord-api-types imports its CommonJS files, and Node
// scans each first (see require-commonjs.ts).
const { GatewayIntentBits } = requireCommonJs<typeof ApiTypes>('discord-api-types/v10');

export type IntentName = Exclude<keyof typeof GatewayIntentBits, number>;

const intentNames = Object.keys(GatewayIntentBits).filter((key) => Number.isNaN(Number(key))) as IntentName[];

/** Guild and DM messages with their text: what the echo bot needs. MessageContent is privileged (switch it on in the Developer Portal). */
export const defaultIntents: IntentName[] = ['Guilds', 'GuildMessages', 'DirectMessages', 'MessageContent'];

const intentName = z.string().refine((name) => intentNames.includes(name as IntentName), {
  error: (issue) => `unknown intent "${String(issue.input)}"; expected one of: ${intentNames.join(', ')}`,
});

export const discordConfig = z
  .strictObject({
    id: z.string(),
    type: z.literal('discord'),
    /** The bot token (Developer Portal > your app > Bot > Reset Token); a leading "Bot " is accepted. */
    token: secret(
      z
        .string()
        .transform((token) => token.replace(/^Bot\s+/i, ''))
        .pipe(z.string().regex(/^[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{10,}$/, 'expected the bot token from the Developer Portal (Bot > Reset Token): three dot-separated parts')),
    ),
    /** Gateway intents, by name (discord.js GatewayIntentBits) or as one bit mask. */
    intents: z
      .union([z.array(intentName).min(1), z.number().int().positive()], { error: 'expected a list of intent names (e.g. [Guilds, GuildMessages, DirectMessages, MessageContent]) or a bit mask' })
      .default(defaultIntents),
    /** Host serving the REST API under /api/v10 (a local server or a fake in tests); the gateway URL is whatever its GET /gateway/bot says. */
    apiRoot: httpUrl.default('https://discord.com'),
    /** An http(s) or SOCKS5 proxy that carries REST, attachment downloads and the gateway websocket: http://[user:pass@]host:port, socks5://… */
    proxy: proxyUrl.optional(),
    /** No gateway activity (events or heartbeat ACKs) for this long: the whole client is destroyed and logged in again. */
    stallTimeout: duration.default(120_000),
    /** How long one login may take to reach READY before it is abandoned and retried with backoff. */
    readyTimeout: duration.default(30_000),
    /**
     * How many shards the bot's gateway connections are split into: `auto` takes the count Discord
     * recommends (GET /gateway/bot, read at start), a number fixes it (every instance must agree).
     * Each shard is its own connection, held by one instance at a time.
     */
    shardCount: z.union([z.literal('auto'), z.number().int().positive()], { error: 'expected auto or a number of shards (1 or more)' }).default('auto'),
    /** Discord allows one IDENTIFY per max_concurrency bucket per 5 s, across every instance; only a gateway with another rule (a local test server) needs a different value. */
    identifyInterval: duration.default(5000),
  })
  .transform((config) => ({
    ...config,
    apiRoot: config.apiRoot.replace(/\/+$/, '').replace(/\/api$/, ''),
    intents: typeof config.intents === 'number' ? config.intents : config.intents.reduce((mask, name) => mask | GatewayIntentBits[name as IntentName], 0),
  }));

export type DiscordConfig = z.output<typeof discordConfig>;
