// The test kit and streamed replies, as a bot author meets them: only switchboard (../src/index.js)
// and switchboard/testing (../testing/index.js). A message the platform edits as it grows is one
// reply, reported as the chat shows it at the end; `send` resolves once the stream has ended.

import { afterEach, describe, expect, it } from 'vitest';
import { defineBot } from '../src/index.js';
import { createTestBot, type TestBot, type TestPlatform } from '../testing/index.js';

const words = ['The ', 'answer ', 'grows ', 'word ', 'by ', 'word.'];
const full = words.join('');

/** Answers a direct message, or a group message that mentions it, with a stream of `words` (and buttons at the end when asked). */
function streamingBot(options: { buttons?: boolean } = {}) {
  const state = { ended: 0 };
  const bot = defineBot((b) =>
    b.on('message', (ctx) => {
      if (ctx.message.channel.type !== 'direct' && !ctx.message.mentionsBot) return;
      return (async function* () {
        for (const word of words) {
          // The pace of a model writing: a few ms between chunks, so the platform shows it growing.
          await new Promise((resolve) => setTimeout(resolve, 25));
          yield word;
        }
        if (options.buttons) yield { type: 'buttons' as const, rows: [[{ label: 'More', value: 'more' }]] };
        state.ended++;
      })();
    }),
  );
  return { bot, state };
}

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

/** The call that gave the message what it shows, in a group: the last edit where the platform edits a growing message, the one send where it does not. */
const lastCall: Record<TestPlatform, RegExp> = {
  telegram: /^editMessageText$/,
  discord: /^PATCH \/channels\/\d+\/messages\/\d+$/,
  lark: /^PATCH \/open-apis\/im\/v1\/messages\/om_\w+$/,
  vk: /^messages\.edit$/,
  'tencent-im': /^openim\/modify_group_msg$/,
  qq: /^POST \/v2\/groups\/\w+\/messages$/,
  // A WeCom app's chats are one to one: this is a direct chat.
  wecom: /^message\/send$/,
};
/** The same in a direct chat, where it differs: Telegram shows drafts (previews, not replies), then sends the message once. */
const lastDirectCall: Partial<Record<TestPlatform, RegExp>> = { telegram: /^sendMessage$/, 'tencent-im': /^openim\/modify_c2c_msg$/, qq: /^POST \/v2\/users\/\w+\/messages$/ };

describe.each(Object.keys(lastCall) as TestPlatform[])('a streamed reply on %s', (platform) => {
  it('in a group, is one reply with the whole final text, there once send resolves', async () => {
    const { bot, state } = streamingBot();
    t = createTestBot(bot, { platform });
    const replies = await t.send(platform === 'wecom' ? 'tell me' : { text: 'tell me', chat: 'group', mention: true });
    expect(state.ended).toBe(1);
    expect(replies.map((r) => r.text)).toEqual([full]);
    expect(replies[0]!.method).toMatch(lastCall[platform]);
    expect(t.sent().map((r) => r.text)).toEqual([full]);
  });

  it('in a direct chat, is one reply with the whole final text too', async () => {
    const { bot, state } = streamingBot();
    t = createTestBot(bot, { platform });
    const replies = await t.send('tell me');
    expect(state.ended).toBe(1);
    expect(replies.map((r) => r.text)).toEqual([full]);
    expect(replies[0]!.method).toMatch(lastDirectCall[platform] ?? lastCall[platform]);
    expect(t.sent()).toHaveLength(1);
  });
});

describe.each(['telegram', 'discord', 'lark', 'vk'] as const)('a streamed reply with buttons on %s', (platform) => {
  it('shows the buttons its last edit added', async () => {
    const { bot, state } = streamingBot({ buttons: true });
    t = createTestBot(bot, { platform });
    const [reply, ...more] = await t.send({ text: 'tell me', chat: 'group', mention: true });
    expect(more).toEqual([]);
    expect(reply!.text).toBe(full);
    expect(reply!.buttons).toEqual([[{ label: 'More', value: 'more' }]]);
    expect(reply!.method).toMatch(lastCall[platform]);
    expect(state.ended).toBe(1);
  });
});

describe('a streamed reply among others', () => {
  it('keeps the place of its first send, between the reply before it and the one after', async () => {
    const bot = defineBot((b) =>
      b.on('message', (ctx) => {
        ctx.reply('before');
        ctx.reply(
          (async function* () {
            for (const word of words) {
              await new Promise((resolve) => setTimeout(resolve, 25));
              yield word;
            }
          })(),
        );
        ctx.reply('after');
      }),
    );
    t = createTestBot(bot, { platform: 'discord' });
    for (const turn of [1, 2]) {
      const replies = await t.send(`turn ${turn}`);
      expect(replies.map((r) => [r.text, r.method.split(' ')[0]])).toEqual([['before', 'POST'], [full, 'PATCH'], ['after', 'POST']]);
    }
    expect(t.sent()).toHaveLength(6);
  });
});

describe('docs/testing.md, as written there', () => {
  async function* story() {
    for (const word of ['Once ', 'upon ', 'a ', 'time.']) {
      await new Promise((r) => setTimeout(r, 50));
      yield word;
    }
  }

  it('streams a story, edited as it grows', async () => {
    t = createTestBot(defineBot((b) => b.command('story', () => story())), { platform: 'discord' });
    const replies = await t.send('/story');
    expect(replies.map((r) => r.text)).toEqual(['Once upon a time.']);
    expect(replies[0]!.method).toMatch(/^PATCH /); // sent with its first words, then edited
  });
});
