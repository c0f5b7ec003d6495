import { z } from 'zod';
import { proxyUrl } from '../../src/net/proxy-url.js';
import { secret } from '../../src/runtime/secret.js';
import { duration, httpUrl } from '../../src/runtime/units.js';

export const telegramConfig = z
  .strictObject({
    id: z.string(),
    type: z.literal('telegram'),
    token: secret(z.string().regex(/^\d+:[A-Za-z0-9_-]+$/, 'expected a bot token from @BotFather, like 123456:ABC-DEF…')),
    mode: z.enum(['polling', 'webhook']).default('polling'),
    /** A local Bot API server, or a fake in tests. */
    apiRoot: httpUrl.default('https://api.telegram.org'),
    /** Webhook mode: the X-Telegram-Bot-Api-Secret-Token every update must carry. */
    secretToken: secret(z.string().regex(/^[A-Za-z0-9_-]{1,256}$/, 'use 1-256 of A-Z, a-z, 0-9, "_" and "-" (Telegram\'s rule)')).optional(),
    /** Webhook mode: the public base URL of this server; when set, the webhook is registered at start. */
    publicUrl: httpUrl.optional(),
    /** Polling: seconds Telegram holds a getUpdates request open. */
    pollTimeout: z.number().int().min(0).max(50).default(30),
    /** Polling: a long poll silent for this long past pollTimeout is considered stalled and restarted. */
    stallGrace: duration.default(15_000),
    /** An http(s) or SOCKS5 proxy for every Bot API call and file download: http://[user:pass@]host:port, socks5://… */
    proxy: proxyUrl.optional(),
    /** Update kinds to receive; Telegram's default when absent. */
    allowedUpdates: z.array(z.string()).optional(),
  })
  .superRefine((config, ctx) => {
    if (config.mode === 'webhook' && !config.secretToken)
      ctx.addIssue({ code: 'custom', path: ['secretToken'], message: 'required in webhook mode: requests without it are refused, so forged updates cannot reach the bot' });
  });

export type TelegramConfig = z.output<typeof telegramConfig>;
