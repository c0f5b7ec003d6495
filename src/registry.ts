// The one place the core names platforms: config `type` -> adapter definition.

import type { AdapterDefinition } from './adapter.js';
import http from '../adapters/http/index.js';
import qq from '../adapters/qq/index.js';
import sandbox from '../adapters/sandbox/index.js';
import telegram from '../adapters/telegram/index.js';
import vk from '../adapters/vk/index.js';

export const definitions: readonly AdapterDefinition[] = [sandbox, telegram, http, qq, vk] as AdapterDefinition[];
