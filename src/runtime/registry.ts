// The one place the core names platforms: config `type` -> adapter definition. Only the config
// schemas are imported here; a platform's adapter (and its SDK) loads when a config uses it.

import { lazyAdapter, type AdapterDefinition } from '../adapter.js';
import { discordConfig } from '../../adapters/discord/schema.js';
import { httpConfig } from '../../adapters/http/schema.js';
import { larkConfig } from '../../adapters/lark/schema.js';
import { qqConfig } from '../../adapters/qq/schema.js';
import { sandboxConfig } from '../../adapters/sandbox/schema.js';
import { telegramConfig } from '../../adapters/telegram/schema.js';
import { tencentImConfig } from '../../adapters/tencent-im/schema.js';
import { vkConfig } from '../../adapters/vk/schema.js';
import { wecomConfig } from '../../adapters/wecom/schema.js';

export const definitions: readonly AdapterDefinition[] = [
  lazyAdapter('sandbox', sandboxConfig, () => import('../../adapters/sandbox/index.js')),
  lazyAdapter('telegram', telegramConfig, () => import('../../adapters/telegram/index.js')),
  lazyAdapter('discord', discordConfig, () => import('../../adapters/discord/index.js')),
  lazyAdapter('qq', qqConfig, () => import('../../adapters/qq/index.js')),
  lazyAdapter('lark', larkConfig, () => import('../../adapters/lark/index.js')),
  lazyAdapter('wecom', wecomConfig, () => import('../../adapters/wecom/index.js')),
  lazyAdapter('vk', vkConfig, () => import('../../adapters/vk/index.js')),
  lazyAdapter('tencent-im', tencentImConfig, () => import('../../adapters/tencent-im/index.js')),
  lazyAdapter('http', httpConfig, () => import('../../adapters/http/index.js')),
] as AdapterDefinition[];
