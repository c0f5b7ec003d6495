// The one place the core names platforms: config `type` -> adapter definition.

import type { AdapterDefinition } from './adapter.js';
import http from '../adapters/http/index.js';
import qq from '../adapters/qq/index.js';
import sandbox from '../adapters/sandbox/index.js';
import discord from '../adapters/discord/index.js';
import telegram from '../adapters/telegram/index.js';

export const definitions: readonly AdapterDefinition[] = [sandbox, telegram, http, qq, discord] as AdapterDefinition[];
