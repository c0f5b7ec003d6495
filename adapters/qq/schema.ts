import { z } from 'zod';
import { proxyUrl } from '../../src/net/proxy-url.js';
import { secret } from '../../src/runtime/secret.js';
import { duration, httpUrl } from '../../src/runtime/units.js';

/** Gateway intents by name (QQ's event-emit docs); each turns on one family of events. */
export const intentBits = {
  GUILDS: 1 << 0,
  GUILD_MEMBERS: 1 << 1,
  GUILD_MESSAGES: 1 << 9,
  GUILD_MESSAGE_REACTIONS: 1 << 10,
  DIRECT_MESSAGE: 1 << 12,
  GROUP_AND_C2C_EVENT: 1 << 25,
  INTERACTION: 1 << 26,
  MESSAGE_AUDIT: 1 << 27,
  FORUMS_EVENT: 1 << 28,
  AUDIO_ACTION: 1 << 29,
  PUBLIC_GUILD_MESSAGES: 1 << 30,
} as const;

export type IntentName = keyof typeof intentBits;

/** Guild @-messages, guild DMs, group @-messages and C2C: every message kind the adapter normalizes for a public bot. */
export const defaultIntents: IntentName[] = ['PUBLIC_GUILD_MESSAGES', 'DIRECT_MESSAGE', 'GROUP_AND_C2C_EVENT'];

const intentNames = Object.keys(intentBits) as IntentName[];
const intentName = z.string().refine((name) => name in intentBits, { error: (issue) => `unknown intent "${String(issue.input)}"; expected one of: ${intentNames.join(', ')}` });

export const qqConfig = z
  .strictObject({
    id: z.string(),
    type: z.literal('qq'),
    appId: z.string().regex(/^\d{4,20}$/, 'expected the numeric AppID from q.qq.com (Development > Settings)'),
    /** Also the seed of the webhook Ed25519 key. */
    appSecret: secret(z.string().regex(/^[\x21-\x7e]{8,128}$/, 'expected the AppSecret from q.qq.com (8-128 printable characters, no spaces)')),
    /** webhook: QQ POSTs signed events to /webhooks/<id> (the maintained channel). websocket: we hold a gateway connection (being retired by QQ). */
    mode: z.enum(['webhook', 'websocket']).default('webhook'),
    /** Use QQ's sandbox OpenAPI (sandbox.api.sgroup.qq.com) for a bot still in testing. */
    sandbox: z.boolean().default(false),
    /** OpenAPI base; defaults to the production or sandbox base per `sandbox`. */
    apiRoot: httpUrl.optional(),
    /** Where app access tokens come from. */
    tokenUrl: httpUrl.default('https://bots.qq.com/app/getAppAccessToken'),
    /** Websocket mode: the events to subscribe to, by name or as one bit mask. */
    intents: z
      .union([z.array(intentName).min(1), z.number().int().positive()], { error: 'expected a list of intent names or a bit mask (a positive integer)' })
      .default(defaultIntents),
    /** Webhook mode: how far a request's X-Signature-Timestamp may be from our clock before it is refused as stale (0 turns the check off). */
    webhookTolerance: duration.default(300_000),
    /** An http(s) or SOCKS5 proxy that carries token, OpenAPI, media and gateway traffic: http://[user:pass@]host:port, socks5://… */
    proxy: proxyUrl.optional(),
  })
  .transform((config) => ({
    ...config,
    apiRoot: (config.apiRoot ?? (config.sandbox ? 'https://sandbox.api.sgroup.qq.com' : 'https://api.sgroup.qq.com')).replace(/\/+$/, ''),
    intents: typeof config.intents === 'number' ? config.intents : config.intents.reduce((mask, name) => mask | intentBits[name as IntentName], 0),
  }));

export type QqConfig = z.output<typeof qqConfig>;
