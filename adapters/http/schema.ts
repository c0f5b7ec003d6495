import { z } from 'zod';
import { secret } from '../../src/runtime/secret.js';
import { duration, httpUrl } from '../../src/runtime/units.js';

export const httpConfig = z
  .strictObject({
    id: z.string(),
    type: z.literal('http'),
    /** Served at /api/plug<endpoint>, as AstrBot's HTTP endpoint adapter does. */
    endpoint: z.string().regex(/^\/[A-Za-z0-9/_-]*$/, 'expected a path like /v1/chat').default('/v1/chat'),
    /** Empty: a key is generated at first start and kept in keyFile. */
    apiKey: secret(z.string()).default(''),
    apiKeyTtl: duration.default(7 * 86_400_000),
    /** How long a key replaced by refresh_token keeps working, so in-flight clients can switch over. */
    apiKeyGrace: duration.default(60_000),
    /** Where the current key lives (created with mode 0600); the log names this path, never the key. */
    keyFile: z.string().optional(),
    mode: z.enum(['poll', 'callback']).default('poll'),
    callbackUrl: httpUrl.optional(),
    /** Signs callback deliveries like the lifecycle callbacks (Standard Webhooks, whsec_…). */
    callbackSecret: secret(z.string()).optional(),
    callbackTimeout: duration.default(10_000),
    callbackRetries: z.number().int().min(0).max(10).default(3),
    callbackRetryDelay: duration.default(1000),
    cacheSize: z.number().int().min(1).max(1_000_000).default(4096),
    cacheTtl: duration.default(300_000),
    /** Poll mode: how long a request waits for the bot's answer when the client does not say (`wait`). */
    wait: duration.default(30_000),
    maxWait: duration.default(60_000),
    /** `stream: true` requests: a comment this often keeps a quiet event stream open through proxies. */
    streamHeartbeat: duration.default(15_000),
  })
  .superRefine((config, ctx) => {
    if (config.mode === 'callback' && !config.callbackUrl) ctx.addIssue({ code: 'custom', path: ['callbackUrl'], message: 'required in callback mode: where each message the bot sends is POSTed' });
  });

export type HttpConfig = z.output<typeof httpConfig>;

/** The request body, as AstrBot's HTTP endpoint clients send it (plus optional chat_id / group for group chats). */
export const httpRequest = z
  .object({
    msg_id: z.string().min(1).max(128).optional(),
    type: z.enum(['text', 'image']),
    query: z.string().max(16_384).optional(),
    url: z.string().max(8 * 1024 * 1024).optional(),
    sender_id: z.string().min(1).max(128),
    sender_nickname: z.string().max(128).optional(),
    chat_id: z.string().min(1).max(128).optional(),
    group: z.boolean().optional(),
    /** Poll mode: seconds to wait for the bot's answer. */
    wait: z.number().min(0).optional(),
    /** Poll mode: answer with server-sent events, the answer's text as it grows, then the poll answer. */
    stream: z.boolean().optional(),
  })
  .superRefine((body, ctx) => {
    if (body.type === 'text' && !body.query?.trim()) ctx.addIssue({ code: 'custom', path: ['query'], message: 'required for type text' });
    if (body.type === 'image' && !body.url) ctx.addIssue({ code: 'custom', path: ['url'], message: 'required for type image' });
    if (body.url && !/^(https?:\/\/|data:image\/[a-z0-9.+-]+;base64,)/i.test(body.url)) ctx.addIssue({ code: 'custom', path: ['url'], message: 'expected an http(s) URL or a data:image/...;base64 URL' });
    if (body.group && !body.chat_id) ctx.addIssue({ code: 'custom', path: ['chat_id'], message: 'required when group is true' });
  });

export type HttpRequest = z.output<typeof httpRequest>;
