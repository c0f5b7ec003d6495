// Fault drill on a platform that takes an idempotency key: VK's random_id. The same SIGKILL drill
// as Telegram's, behind VK's Callback API; every reply item's random_id is derived from its
// stable outbox key, so a send repeated after a kill is recognised by VK: users see no doubles.

import { afterAll, describe, expect, it } from 'vitest';
import { runDrill } from './drill/run.js';
import { FakeVK, messageNew, type FakeCommunity } from './fakes/vk.js';

const community: FakeCommunity = { groupId: 424242, token: `vk1.a.${'D1'.repeat(40)}`, confirmation: 'd1d2d3d4', secret: 'drillSecret' };
const fake = new FakeVK([community]);
afterAll(() => fake.stop());

describe('drill: SIGKILL under load, VK Callback API, SQLite store', () => {
  it('loses nothing it acknowledged and shows no user a reply twice', async () => {
    await fake.start();
    const events = new Map<string, object>();
    const result = await runDrill({
      platform: `{ id: vk, type: vk, apiRoot: "${fake.apiRoot}", communities: [{ groupId: ${community.groupId}, token: "${community.token}", confirmation: "${community.confirmation}", secret: "${community.secret}" }] }`,
      deliver: async (url, chat, text) => {
        // One event per message, the same event_id on every redelivery.
        let event = events.get(text);
        if (!event) events.set(text, (event = messageNew(community, text, { fromId: chat })));
        const res = await fake.deliver(`${url}/webhooks/vk`, event);
        return res.ok && (await res.text()) === 'ok';
      },
      sends: () => fake.sent.map((m) => ({ chat: String(m.peerId), text: m.params.message!, at: m.at })),
    });
    const { verdict, report, kills, acked } = result;
    const repeats = fake.calls.filter((c) => c.method === 'messages.send').length - fake.sent.length;
    expect(kills).toHaveLength(5);
    expect(acked.size).toBe(500);
    expect(verdict.lost, report).toEqual([]);
    expect(verdict.doubled, report).toEqual([]);
    expect(verdict.disordered, report).toEqual([]);
    console.log(`vk drill: ${kills.length} kills; ${acked.size} events acknowledged, all answered, none twice; ${repeats} sends repeated after a kill and recognised by their random_id`);
  }, 240_000);
});
