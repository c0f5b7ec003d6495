// The one place the core names platforms: config `type` -> adapter definition.

import type { AdapterDefinition } from './adapter.js';
import discord from '../adapters/discord/index.js';
import http from '../adapters/http/index.js';
import lark from '../adapters/lark/index.js';
import qq from '../adapters/qq/index.js';
import sandbox from '../adapters/sandbox/index.js';
import telegram from '../adapters/telegram/index.js';
import tencentIm from '../adapters/tencent-im/index.js';
import vk from '../adapters/vk/index.js';
import wecom from '../adapters/wecom/index.js';

export const definitions: readonly AdapterDefinition[] = [sandbox, telegram, discord, qq, lark, wecom, vk, tencentIm, http] as AdapterDefinition[];
