// Tencent Cloud IM's streamed replies against the fake REST API: the message sent, then replaced
// with the admin's modify calls as the answer grows (modify_c2c_msg by MsgKey, modify_group_msg by
// GroupId and MsgSeq). The shared scenarios are in stream-scenarios.ts.

import { afterEach, expect, it } from 'vitest';
import type { Bot } from '../src/bot/bot.js';
import { c2c, group, text } from './fakes/tencent-im.js';
import { stopAll, tim } from './fakes/tencent-im-harness.js';
import { waitFor } from './helpers.js';
import { pickOne, streamingBot, streamScenarios, type StreamRig } from './stream-scenarios.js';


async function timRig(bot: Bot, scene: 'c2c' | 'group' = 'c2c') {
  const { fake, post } = await tim({ bot, extra: ', groupMessages: all' });
  const modifyPath = scene === 'c2c' ? 'openim/modify_c2c_msg' : 'openim/modify_group_msg';
  const rig: StreamRig = {
    say: async (said) => {
      const answer = scene === 'c2c' ? await post('C2C.CallbackAfterSendMsg', c2c('alice', fake.bot, [text(said)])) : await post('Group.CallbackAfterSendMsg', group('G1', 'alice', [text(said)]));
      expect(answer.status).toBe(200);
    },
    shown: () => fake.sent.map((m) => ({ id: fake.idOf(m), text: fake.showing(m) })),
    taken: () =>
      [
        ...fake.sent.map((m) => ({ kind: 'send' as const, id: fake.idOf(m), text: m.body.MsgBody[0].MsgContent.Text as string, at: fake.sentAt(m) })),
        ...fake.modifications.map((c) => ({ kind: 'edit' as const, id: c.id, text: c.body.MsgBody.map((e: { MsgContent: { Text: string } }) => e.MsgContent.Text).join(''), at: c.at })),
      ].sort((a, b) => a.at - b.at),
    refuseNextEdit: () => fake.failNext(modifyPath, 20001, 'request packet invalid: the message was deleted'),
    stop: stopAll,
  };
  return { ...rig, fake };
}

// The ordinary send packs text elements of 3000 characters into one message up to Tencent's 12 KB body.
streamScenarios({ name: 'tencent-im', maxLength: 3000, sendLimit: 11_000, minGapMs: 500, start: (bot) => timRig(bot) });

afterEach(stopAll);

it('tencent-im: in a group the message is modified by GroupId and MsgSeq, ends with its buttons as lines, then the image', async () => {
  const rig = await timRig(
    streamingBot(pickOne),
    'group',
  );
  await rig.say('choose');
  const fake = rig.fake;
  const [message, image] = await waitFor(() => fake.sent.length === 2 && fake.sent, 6000, 'the text and the image');
  expect(message!.to).toBe('G1');
  const last = fake.modifications.at(-1)!;
  expect(last.body).toEqual({ GroupId: 'G1', MsgSeq: Number(fake.idOf(message!).split(':')[1]), MsgBody: [text('Pick one:\n1. Yes — send "yes"\n2. No — send "no"')] });
  expect(fake.showing(message!)).toBe('Pick one:\n1. Yes — send "yes"\n2. No — send "no"');
  expect(image!.body.MsgBody[0].MsgType).toBe('TIMImageElem');
  expect(fake.sentAt(image!)).toBeGreaterThanOrEqual(last.at);
});

it('tencent-im: one-to-one, the modify names both accounts and the MsgKey the send answered', async () => {
  const rig = await timRig(
    streamingBot(async function* () {
      yield 'a';
      await waitFor(() => rig.fake.sent.length === 1, 4000, 'the first message');
      yield 'b';
    }),
  );
  await rig.say('hi');
  const fake = rig.fake;
  await waitFor(() => fake.modifications.length >= 1, 4000, 'a modify');
  expect(fake.modifications[0]!.body).toEqual({ From_Account: 'bot', To_Account: 'alice', MsgKey: fake.idOf(fake.sent[0]!), MsgBody: [text('ab')] });
});
