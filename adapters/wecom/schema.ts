import { z } from 'zod';
import { proxyUrl } from '../../src/net/proxy-url.js';
import { secret } from '../../src/runtime/secret.js';
import { duration, httpUrl } from '../../src/runtime/units.js';

const printable = (what: string) => z.string().regex(/^[\x21-\x7e]{1,128}$/, `expected ${what} (printable characters, no spaces)`);

export const wecomConfig = z
  .strictObject({
    id: z.string(),
    type: z.literal('wecom'),
    /** robot: a group robot (群机器人) with a callback URL; app: a self-built app (自建应用). */
    kind: z.enum(['robot', 'app']),
    /** The callback's Token (3-32 letters or digits), set beside the callback URL. */
    token: secret(z.string().regex(/^[A-Za-z0-9]{3,32}$/, 'expected the callback Token: 3-32 letters or digits, as set beside the callback URL')),
    /** The callback's EncodingAESKey: 43 characters, the base64 of the AES key without its "=". */
    encodingAESKey: secret(z.string().regex(/^[A-Za-z0-9+/]{43}$/, 'expected the 43-character EncodingAESKey shown beside the callback URL')),
    /** The receive id every decrypted callback must carry: the corp id for an app; a robot's is empty unless set. */
    corpId: printable('the corp id (CorpID, "我的企业" > "企业信息")').optional(),
    /** App only: the app's Secret. */
    corpSecret: secret(printable("the app's Secret (应用管理 > the app > Secret)")).optional(),
    /** App only: the app's AgentId. */
    agentId: z.number().int().positive().optional(),
    /** Robot only: the robot's display name, stripped from the front of "@name text". */
    name: z.string().min(1).optional(),
    /** Base of the server API (gettoken, message/send, media…); a robot replies to the WebhookUrl each callback carries, which must lie under it. */
    apiRoot: httpUrl.default('https://qyapi.weixin.qq.com'),
    /** How far a callback's timestamp may be from our clock before it is refused as replayed (0: no check). */
    replayWindow: duration.default(300_000),
    /** An http(s) or SOCKS5 proxy for every call to WeCom (API, robot webhooks, media): http://[user:pass@]host:port, socks5://… */
    proxy: proxyUrl.optional(),
    /** Robot: how many chats' reply URLs are remembered (the oldest is forgotten first). */
    maxChats: z.number().int().positive().default(10_000),
  })
  .superRefine((config, ctx) => {
    if (config.kind !== 'app') return;
    const missing = { corpId: 'the corp id', corpSecret: "the app's Secret", agentId: "the app's AgentId (a number)" } as const;
    for (const [key, what] of Object.entries(missing))
      if (config[key as keyof typeof missing] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `required for kind: app: ${what}` });
  })
  .transform((config): WecomConfig => {
    const common = { id: config.id, type: config.type, token: config.token, encodingAESKey: config.encodingAESKey, apiRoot: config.apiRoot.replace(/\/+$/, ''), replayWindow: config.replayWindow, proxy: config.proxy };
    if (config.kind === 'app') return { ...common, kind: 'app', corpId: config.corpId!, corpSecret: config.corpSecret!, agentId: config.agentId! };
    return { ...common, kind: 'robot', receiveId: config.corpId ?? '', name: config.name, maxChats: config.maxChats };
  });

interface Common {
  id: string;
  type: 'wecom';
  token: string;
  encodingAESKey: string;
  apiRoot: string;
  replayWindow: number;
  proxy: string | undefined;
}

export type RobotConfig = Common & { kind: 'robot'; receiveId: string; name: string | undefined; maxChats: number };
export type AppConfig = Common & { kind: 'app'; corpId: string; corpSecret: string; agentId: number };
export type WecomConfig = RobotConfig | AppConfig;
