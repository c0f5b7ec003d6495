// VK's streamed replies against the fake VK: messages.send to peer_ids, then messages.edit by
// conversation_message_id as the answer grows, the inline keyboard on the last edit, photos after.
// The shared scenarios are in stream-scenarios.ts.

import { afterEach, expect, it } from 'vitest';
import type { Bot } from '../src/bot/bot.js';
import { messageNew } from './fakes/vk.js';
import { alpha, running, stopVk, vk } from './fakes/vk-harness.js';
import { waitFor } from './helpers.js';
import { pickOne, streamingBot, streamScenarios, type StreamRig } from './stream-scenarios.js';

/** A chat of the community (peer_id past 2e9), where VK gives a community no message_id. */
const chat = 2_000_000_007;

async function vkRig(bot: Bot, peerId = 1001): Promise<StreamRig> {
  const { fake, deliver } = await vk({ bot });
  const mine = () => fake.sent.filter((m) => m.peerId === peerId);
  return {
    say: async (text) => expect((await deliver(messageNew(alpha, text, { peerId }))).status).toBe(200),
    shown: () => mine().map((m) => ({ id: String(m.id), text: fake.showing(m) })),
    taken: () =>
      [
        ...mine().map((m) => ({ kind: 'send' as const, id: String(m.id), text: m.params.message ?? '', at: m.at })),
        ...fake.edits.map((e) => ({ kind: 'edit' as const, id: String(e.id), text: e.params.message ?? '', at: e.at })),
      ].sort((a, b) => a.at - b.at),
    refuseNextEdit: () => fake.failNext('messages.edit', 909),
    stop: stopVk,
  };
}

streamScenarios({ name: 'vk', maxLength: 4096, minGapMs: 1000, start: (bot) => vkRig(bot) });

afterEach(stopVk);

it('vk: in a chat the message is edited by its conversation_message_id, ends with its keyboard, then the photo', async () => {
  const rig = await vkRig(
    streamingBot(pickOne),
    chat,
  );
  await rig.say('choose');
  const fake = running.fake!;
  const [text, photo] = await waitFor(() => fake.sent.length === 2 && fake.sent, 6000, 'the text and the photo');
  expect(text!.params.peer_ids).toBe(String(chat));
  const last = fake.edits.at(-1)!;
  expect(last.params).toMatchObject({ peer_id: String(chat), conversation_message_id: String(text!.cmid), message: 'Pick one:', keep_forward_messages: '1' });
  expect(JSON.parse(last.params.keyboard!).buttons[0][0].action).toMatchObject({ type: 'text', label: 'Yes' });
  expect(photo!.attachments.map((a) => a.kind)).toEqual(['photo']);
  expect(photo!.at).toBeGreaterThanOrEqual(last.at);
});
