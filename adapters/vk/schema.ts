import { z } from 'zod';
import { proxyUrl } from '../../src/net/proxy-url.js';
import { secret } from '../../src/runtime/secret.js';
import { httpUrl } from '../../src/runtime/units.js';

const community = z.strictObject({
  groupId: z.coerce
    .number({ error: 'expected the numeric community id (Manage > Settings > API usage shows it; without the minus sign)' })
    .int()
    .positive('expected the community id without the minus sign, e.g. 123456'),
  /** Community access token (Manage > API usage > Access tokens) with the "messages" scope; "manage" too for autoSetup. */
  token: secret(z.string().regex(/^\S{20,}$/, 'expected a community access token (Manage > API usage > Access tokens), at least 20 characters, no spaces')),
  /** The string VK asks the server to answer the confirmation request with (Manage > API usage > Callback API); with autoSetup it is asked of VK. */
  confirmation: secret(z.string().regex(/^\S{1,64}$/, 'expected the confirmation string shown on the Callback API page (no spaces)')).optional(),
  /** The secret key VK puts in every callback request; set the same value on the Callback API page. */
  secret: secret(z.string().regex(/^[A-Za-z0-9]{1,50}$/, 'expected the Callback API secret key: 1-50 Latin letters and digits, as VK allows')),
  /** Register our callback server and its events on this community at start (overrides the platform-wide setting). */
  autoSetup: z.boolean().optional(),
});

export const vkConfig = z
  .strictObject({
    id: z.string(),
    type: z.literal('vk'),
    /** Base of the API methods; set for a local fake or a mirror. */
    apiRoot: httpUrl.default('https://api.vk.ru/method'),
    communities: z
      .array(community)
      .min(1, 'list at least one community: { groupId, token, confirmation, secret }')
      .refine((list) => new Set(list.map((c) => c.groupId)).size === list.length, 'each groupId may be listed once'),
    /** Register our callback server and its events on every community at start (needs server.publicUrl and a token with "manage"). */
    autoSetup: z.boolean().default(false),
    /** An http(s) or SOCKS5 proxy that carries API calls, uploads and file downloads: http://[user:pass@]host:port, socks5://… */
    proxy: proxyUrl.optional(),
    /** The callback server's title in the community settings (autoSetup; VK allows up to 14 characters). */
    serverTitle: z.string().min(1).max(14).default('Switchboard'),
  })
  .superRefine((config, ctx) => {
    config.communities.forEach((c, i) => {
      if (c.confirmation === undefined && !(c.autoSetup ?? config.autoSetup))
        ctx.addIssue({ code: 'custom', path: ['communities', i, 'confirmation'], message: 'expected the confirmation string shown on the Callback API page (or autoSetup: true, which asks VK for it)' });
    });
  })
  .transform((config) => ({
    ...config,
    apiRoot: config.apiRoot.replace(/\/+$/, ''),
    communities: config.communities.map(({ autoSetup, ...c }) => ({ ...c, autoSetup: autoSetup ?? config.autoSetup })),
  }));

export type VkConfig = z.output<typeof vkConfig>;
export type Community = VkConfig['communities'][number];
