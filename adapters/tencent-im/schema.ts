import { z } from 'zod';
import { secret } from '../../src/runtime/secret.js';
import { duration, httpUrl } from '../../src/runtime/units.js';

/** Tencent Cloud IM UserIDs: up to 32 bytes; the console allows letters, digits, "_" and "-". */
const account = (what: string) => z.string().regex(/^[A-Za-z0-9_@.-]{1,32}$/, `expected ${what}: an IM UserID of 1-32 letters, digits, "_", "-", "@" or "."`);

export const tencentImConfig = z
  .strictObject({
    id: z.string(),
    type: z.literal('tencent-im'),
    /** The SDKAppID from the IM console (a number; a quoted number is accepted). */
    sdkAppId: z.union([z.number().int().positive(), z.string().regex(/^\d{4,12}$/)], { error: 'expected the numeric SDKAppID from the IM console (Applications > SDKAppID)' }).transform(Number),
    /** The app's secret key (IM console > Application > Basic configuration); signs the admin UserSig. */
    secretKey: secret(z.string().regex(/^[\x21-\x7e]{16,128}$/, 'expected the app key from the IM console (Basic configuration > key), 16-128 printable characters')),
    /** The app admin the REST API is called as (IM console > Account management > administrator). */
    adminIdentifier: account('the app admin account').default('administrator'),
    /** The account the bot speaks as; messages to it (C2C) or @-mentioning it (groups) reach the bot. */
    botAccount: account('the bot account'),
    /** The callback authentication token (console > Callback configuration > Callback authentication); when set, RequestTime and Sign are required. */
    callbackToken: secret(z.string().min(1).max(128, 'the callback token is at most 128 characters')).optional(),
    /** REST API host: https://console.tim.qq.com (China), https://adminapisgp.im.qcloud.com (Singapore), https://adminapiusa.im.qcloud.com (USA)… */
    apiRoot: httpUrl.default('https://console.tim.qq.com'),
    /** How long a bot interceptor may take on a Before* callback before the message is allowed (Tencent waits about 2 s). */
    interceptTimeout: duration.pipe(z.number().max(1900, 'interceptTimeout must be at most 1900ms: Tencent waits 2 s for a Before* answer, then goes on without it')).default(1500),
    /** How far a callback's RequestTime may be from our clock (Tencent: 1 minute). */
    callbackTolerance: duration.default(60_000),
    /** Group messages the bot sees: only those @-mentioning it (default), or every message of every group in the app. */
    groupMessages: z.enum(['mentions', 'all']).default('mentions'),
    /** Whether users' files named in callbacks may be fetched from loopback or private addresses (off: a forged callback cannot make us probe your LAN). */
    allowPrivateNetworks: z.boolean().default(false),
  })
  .transform((config) => ({ ...config, apiRoot: config.apiRoot.replace(/\/+$/, '') }));

export type TencentImConfig = z.output<typeof tencentImConfig>;
