import { z } from 'zod';
import { secret } from '../../src/runtime/secret.js';
import { duration, httpUrl } from '../../src/runtime/units.js';

/** The open platform base URL of each cloud: Feishu (China) and Lark (international). */
export const domains = { feishu: 'https://open.feishu.cn', lark: 'https://open.larksuite.com' } as const;

/** The SDK's long-connection client refuses any other App ID, silently (it logs and returns). */
const wsAppId = /^cli_[0-9a-fA-F]{16}$/;

/** An unset optional secret may arrive as "" from `${VAR:-}`; treat it as absent. */
const optionalSecret = secret(z.string())
  .optional()
  .transform((value) => (value === '' ? undefined : value));

export const larkConfig = z
  .strictObject({
    id: z.string(),
    type: z.literal('lark'),
    /** feishu (open.feishu.cn), lark (open.larksuite.com), or the base URL of another open platform host. */
    domain: z
      .union([z.enum(['feishu', 'lark']), httpUrl], { error: 'expected feishu, lark, or an http(s) base URL such as https://open.feishu.cn' })
      .default('feishu'),
    appId: z.string().regex(/^cli_[A-Za-z0-9]{4,64}$/, 'expected the App ID from the developer console (Credentials & Basic Info), like cli_a1b2c3d4e5f60718'),
    appSecret: secret(z.string().regex(/^[\x21-\x7e]{8,128}$/, 'expected the App Secret from the developer console (Credentials & Basic Info)')),
    /** Webhook mode: every event carries it (header.token); requests without it are refused. */
    verificationToken: optionalSecret,
    /** Webhook mode: events arrive AES-encrypted and signed with it (X-Lark-Signature). Strongly recommended. */
    encryptKey: optionalSecret,
    /** Webhook mode: how far a signed request's X-Lark-Request-Timestamp may be from our clock before it is refused as replayed (0: no check). */
    replayWindow: duration.default(300_000),
    /** webhook: Lark POSTs events to /webhooks/<id>. websocket: the SDK's long connection, for hosts that cannot take inbound HTTP. */
    mode: z.enum(['webhook', 'websocket']).default('webhook'),
  })
  .superRefine((config, ctx) => {
    if (config.mode === 'webhook' && !config.verificationToken)
      ctx.addIssue({ code: 'custom', path: ['verificationToken'], message: 'required in webhook mode (Events & Callbacks > Encryption Strategy in the developer console): requests without it are refused' });
    if (config.mode === 'websocket' && !wsAppId.test(config.appId))
      ctx.addIssue({ code: 'custom', path: ['appId'], message: 'websocket mode needs an App ID of the form cli_ followed by 16 hex digits (the SDK refuses any other)' });
  })
  .transform((config) => ({
    ...config,
    /** The base URL every API call goes to. */
    baseUrl: (config.domain in domains ? domains[config.domain as keyof typeof domains] : config.domain).replace(/\/+$/, ''),
  }));

export type LarkConfig = z.output<typeof larkConfig>;
