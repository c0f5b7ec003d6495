// WeCom and streamed replies: neither the group robot's webhook nor the app's message API can edit
// a message, so WeCom declares no `streaming`: the core collects the stream and the fake receives
// one message with the whole text, from a robot as from an app.

import { expect } from 'vitest';
import { FakeWecom, appText, robotText } from './fakes/wecom.js';
import { startRuntime } from './helpers.js';
import { collectedScenarios } from './stream-scenarios.js';

for (const kind of ['robot', 'app'] as const) {
  collectedScenarios(`wecom ${kind}`, async (bot) => {
    const fake = await new FakeWecom().start();
    const keys = `token: "${fake.token}", encodingAESKey: "${fake.encodingAESKey}", apiRoot: "${fake.url}"`;
    const entry = kind === 'robot' ? `{ id: wecom, type: wecom, kind: robot, ${keys}, name: RobotA }` : `{ id: wecom, type: wecom, kind: app, ${keys}, corpId: "${fake.corpId}", corpSecret: "${fake.corpSecret}", agentId: ${fake.agentId} }`;
    const { runtime, url } = await startRuntime(`platforms:\n  - ${entry}\n`, { bot });
    // A robot callback seals an empty receive id; an app's seals the corp id.
    const receiveId = kind === 'robot' ? '' : fake.corpId;
    return {
      say: async (text) => expect((await fake.deliver(`${url}/webhooks/wecom`, kind === 'robot' ? robotText(fake.webhookUrl, `@RobotA ${text}`) : appText(fake, text), { receiveId })).status).toBe(200),
      texts: () => fake.sent.map((m) => (m.body.text?.content ?? m.body.markdown?.content) as string),
      stop: async () => {
        await runtime.stop();
        await fake.stop();
      },
    };
  });
}
