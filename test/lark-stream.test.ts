// Lark's streamed replies against the fake open platform: an interactive card sent, then patched
// as the answer grows (PATCH /open-apis/im/v1/messages/:message_id), buttons as card actions on
// the last patch, images after it. The shared scenarios are in stream-scenarios.ts.

import { afterEach, expect, it } from 'vitest';
import type { Bot } from '../src/bot/bot.js';
import { FakeLark, textEvent, type SentMessage } from './fakes/lark.js';
import { startRuntime, waitFor } from './helpers.js';
import { pickOne, streamingBot, streamScenarios, type StreamRig } from './stream-scenarios.js';


/** What a Lark message shows as text: a card's first plain_text block, a text message's text. */
const textOf = (m: { msgType: string; content: Record<string, any> }) => (m.msgType === 'interactive' ? (m.content.elements?.[0]?.text?.content ?? '') : m.msgType === 'text' ? m.content.text : `[${m.msgType}]`);

async function larkRig(bot: Bot): Promise<StreamRig & { fake: FakeLark }> {
  const fake = await new FakeLark().start();
  const platform = `  - { id: lark, type: lark, domain: "${fake.url}", appId: "${fake.appId}", appSecret: "${fake.appSecret}", verificationToken: "${fake.verificationToken}", encryptKey: "${fake.encryptKey}", mode: webhook }`;
  const { runtime, url } = await startRuntime(`platforms:\n${platform}\n`, { bot });
  return {
    fake,
    say: async (text) => expect((await fake.deliver(`${url}/webhooks/lark`, textEvent(fake, text, { chatType: 'group' }))).status).toBe(200),
    shown: () => fake.sent.map((m) => ({ id: m.messageId, text: textOf({ msgType: m.msgType, content: fake.showing(m) }) })),
    taken: () =>
      [
        ...fake.sent.map((m) => ({ kind: 'send' as const, id: m.messageId, text: textOf(m), at: m.at })),
        ...fake.patches.filter((p) => p.code === 0).map((p) => ({ kind: 'edit' as const, id: p.messageId, text: textOf({ msgType: 'interactive', content: p.content! }), at: p.at })),
      ].sort((a, b) => a.at - b.at),
    refuseNextEdit: (id) => fake.recall(id),
    stop: async () => {
      await runtime.stop();
      await fake.stop();
    },
  };
}

streamScenarios({ name: 'lark', maxLength: 4000, minGapMs: 200, start: larkRig });

let rig: Awaited<ReturnType<typeof larkRig>> | undefined;
afterEach(async () => {
  await rig?.stop();
  rig = undefined;
});

it('lark: a streamed card replies to the message, is shared (update_multi), ends with its buttons as card actions, then the image', async () => {
  rig = await larkRig(
    streamingBot(pickOne),
  );
  await rig.say('choose');
  const fake = rig.fake;
  const [cardMessage, image] = await waitFor(() => fake.sent.length === 2 && fake.sent, 6000, 'the card and the image');
  expect(cardMessage!.kind).toBe('reply');
  expect(cardMessage!.msgType).toBe('interactive');
  expect(image!.msgType).toBe('image');
  const final: SentMessage['content'] = fake.showing(cardMessage!);
  expect(final.config).toEqual({ wide_screen_mode: true, update_multi: true });
  expect(final.elements[0]).toEqual({ tag: 'div', text: { tag: 'plain_text', content: 'Pick one:' } });
  expect(final.elements[1].actions.map((a: any) => [a.text.content, a.value])).toEqual([['Yes', { value: 'yes' }], ['No', { value: 'no' }]]);
  // The last call to the card was the patch that added the buttons; the image came after it.
  const lastPatch = fake.patches.filter((p) => p.code === 0).at(-1)!;
  expect(lastPatch.content!.elements).toHaveLength(2);
  expect(image!.at).toBeGreaterThanOrEqual(lastPatch.at);
});

it('lark: a rate-limited patch (230020) is waited out and the answer still ends exact', async () => {
  rig = await larkRig(
    streamingBot(async function* () {
      yield 'one ';
      await waitFor(() => rig!.fake.sent.length === 1, 4000, 'the card');
      rig!.fake.patchFailures.push({ status: 400, code: 230020, msg: 'This operation triggers the frequency limit.', headers: { 'x-ogw-ratelimit-reset': '1' } });
      yield 'two ';
      await waitFor(() => rig!.fake.patches.some((p) => p.code === 0), 6000, 'a patch taken after the refusal');
      yield 'three';
    }),
  );
  await rig.say('count');
  const fake = rig.fake;
  await waitFor(() => fake.patches.some((p) => p.code === 0 && textOf({ msgType: 'interactive', content: p.content! }) === 'one two three') && fake.sent, 8000, 'the whole count');
  expect(fake.sent).toHaveLength(1);
  expect(textOf({ msgType: 'interactive', content: fake.showing(fake.sent[0]!) })).toBe('one two three');
  const refused = fake.patches.find((p) => p.code === 230020)!;
  const next = fake.patches[fake.patches.indexOf(refused) + 1]!;
  expect(next.at - refused.at).toBeGreaterThanOrEqual(1000 - 15);
});
