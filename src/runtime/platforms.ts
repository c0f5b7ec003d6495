// The one place the core names platforms: config `type` -> its config schema and its adapter,
// each imported only when a config names the type. Building every platform's schema costs a
// start tens of ms, loading its SDK far more: a config with one platform loads one of each.

import { lazyAdapter, type AdapterDefinition } from '../adapter.js';

const platforms: Record<string, () => Promise<AdapterDefinition>> = {
  sandbox: async () => lazyAdapter('sandbox', (await import('../../adapters/sandbox/schema.js')).sandboxConfig, () => import('../../adapters/sandbox/index.js')),
  telegram: async () => lazyAdapter('telegram', (await import('../../adapters/telegram/schema.js')).telegramConfig, () => import('../../adapters/telegram/index.js')),
  discord: async () => lazyAdapter('discord', (await import('../../adapters/discord/schema.js')).discordConfig, () => import('../../adapters/discord/index.js')),
  qq: async () => lazyAdapter('qq', (await import('../../adapters/qq/schema.js')).qqConfig, () => import('../../adapters/qq/index.js')),
  lark: async () => lazyAdapter('lark', (await import('../../adapters/lark/schema.js')).larkConfig, () => import('../../adapters/lark/index.js')),
  wecom: async () => lazyAdapter('wecom', (await import('../../adapters/wecom/schema.js')).wecomConfig, () => import('../../adapters/wecom/index.js')),
  vk: async () => lazyAdapter('vk', (await import('../../adapters/vk/schema.js')).vkConfig, () => import('../../adapters/vk/index.js')),
  'tencent-im': async () => lazyAdapter('tencent-im', (await import('../../adapters/tencent-im/schema.js')).tencentImConfig, () => import('../../adapters/tencent-im/index.js')),
  http: async () => lazyAdapter('http', (await import('../../adapters/http/schema.js')).httpConfig, () => import('../../adapters/http/index.js')),
};

export const platformTypes: readonly string[] = Object.keys(platforms);

/**
 * The definitions of `types`, in the registry's order; every platform's when `types` is undefined
 * or names one that is not known (the config's error then lists every type there is).
 */
export async function definitionsFor(types?: readonly string[]): Promise<AdapterDefinition[]> {
  const known = types !== undefined && types.every((type) => Object.hasOwn(platforms, type));
  return Promise.all(platformTypes.filter((type) => !known || types.includes(type)).map((type) => platforms[type]!()));
}
