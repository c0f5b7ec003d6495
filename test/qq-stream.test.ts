// QQ and streamed replies: the official bot API's streaming markdown mode is for allow-listed bots
// only, and nothing tells the adapter that a bot is one, so QQ declares no `streaming`: the core
// collects the stream and the fake receives one passive reply with the whole text.

import { expect } from 'vitest';
import qq from '../adapters/qq/index.js';
import type { AdapterDefinition } from '../src/adapter.js';
import { definitions } from '../src/runtime/registry.js';
import { FakeQQ, groupAt } from './fakes/qq.js';
import { startRuntime } from './helpers.js';
import { collectedScenarios } from './stream-scenarios.js';

collectedScenarios('qq', async (bot) => {
  const fake = await new FakeQQ().start();
  const yaml = `platforms:\n  - { id: qq, type: qq, appId: "${fake.appId}", appSecret: "${fake.appSecret}", mode: webhook, apiRoot: "${fake.url}", tokenUrl: "${fake.url}/app/getAppAccessToken" }\n`;
  const { runtime, url } = await startRuntime(yaml, { bot, definitions: [...definitions, qq as unknown as AdapterDefinition] });
  return {
    say: async (text) => expect((await fake.deliver(`${url}/webhooks/qq`, groupAt(text))).status).toBe(200),
    texts: () => fake.sent.map((m) => m.body.content as string),
    stop: async () => {
      await runtime.stop();
      await fake.stop();
    },
  };
});
