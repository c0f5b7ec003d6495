// Streamed replies on Telegram, through the runtime and the real SDK against the fake Bot API:
// drafts then the message in a private chat, a message edited as it grows elsewhere.

import { afterEach, describe, expect, it } from 'vitest';
import type { StreamChunk } from '../src/bot/stream.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { FakeTelegram, type RecordedCall } from './fakes/telegram-api.js';
import { startRuntime, waitFor } from './helpers.js';
import { streamingBot } from './stream-bot.js';

const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
const group = { id: -100, type: 'supergroup', title: 'Team' };

let runtime: Runtime | undefined;
let fake: FakeTelegram | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  runtime = fake = undefined;
});

/** A runtime whose bot answers each message with a stream the test writes (`writer()`), or with `chunks` yielded one per `gapMs`. */
async function streaming(options: { chunks?: StreamChunk[]; gapMs?: number; yaml?: string } = {}) {
  fake = new FakeTelegram();
  await fake.start();
  const { bot, writer } = streamingBot(options);
  const yaml = [
    'platforms:',
    `  - { id: tg, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}", pollTimeout: 1${options.yaml ?? ''} }`,
    'delivery: { streamNotice: "(cut short)" }',
  ].join('\n');
  runtime = (await startRuntime(yaml, { bot })).runtime;
  const f = fake;
  return { fake: f, writer };
}

/** Calls that show the reply (drafts, sends, edits), in order, as method:text. */
const shown = (f: FakeTelegram) => f.calls.filter((c) => /^(send|edit)/.test(c.method)).map((c) => `${c.method}:${c.params.text ?? ''}`);
const callsOf = (f: FakeTelegram) => f.calls.filter((c) => /^(send|edit)/.test(c.method));

/** The bot's first message in the chat. */
const firstId = (f: FakeTelegram) => f.delivered()[0]!.messageId!;

/** GCRA(burst, interval): any k consecutive calls span at least (k - burst) intervals. */
function expectPaced(calls: RecordedCall[], burst: number, intervalMs: number) {
  const slack = 60; // the recorded time is the request's arrival, a little after its reserved slot
  for (let i = 0; i < calls.length; i++)
    for (let j = i + burst; j < calls.length; j++) expect(calls[j]!.at - calls[i]!.at, `calls ${i}..${j}`).toBeGreaterThanOrEqual((j - i + 1 - burst) * intervalMs - slack);
}

describe('telegram: streamed replies in a private chat', () => {
  it('shows drafts at one a second (burst 3), then sends the message in HTML, quoting; the text is exact', async () => {
    const words = Array.from({ length: 50 }, (_, i) => `w${i} <${i}> `);
    const { fake } = await streaming({ chunks: [...words, { type: 'buttons', rows: [[{ label: 'More', value: 'more' }]] }], gapMs: 50 });
    fake.pushMessage({ text: 'tell me' });
    const sent = await fake.waitForCall('sendMessage', () => true, 8000);
    const drafts = fake.drafts();
    // ~2.5 s of stream at 1/s after a burst of 3: a handful of calls, not one per word.
    expect(drafts.length).toBeGreaterThanOrEqual(2);
    expect(drafts.length + 1).toBeLessThanOrEqual(3 + 4);
    expectPaced(callsOf(fake), 3, 1000);
    const draftIds = new Set(drafts.map((d) => d.params.draft_id));
    expect(draftIds.size).toBe(1);
    expect(Number([...draftIds][0])).not.toBe(0);
    for (const d of drafts) expect(d.params).toMatchObject({ chat_id: '42' });
    for (const d of drafts) expect(d.params.parse_mode).toBeUndefined();
    for (let i = 1; i < drafts.length; i++) expect(drafts[i]!.params.text!.startsWith(drafts[i - 1]!.params.text!)).toBe(true);
    expect(sent.params.parse_mode).toBe('HTML');
    expect(sent.params.text).toBe(words.join('').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
    expect(JSON.parse(sent.params.reply_parameters!)).toMatchObject({ message_id: expect.any(Number) });
    expect(JSON.parse(sent.params.reply_markup!)).toEqual({ inline_keyboard: [[{ text: 'More', callback_data: 'more' }]] });
    expect(fake.sent()).toHaveLength(1);
  }, 15_000);

  it('a stream that throws: the message is sent with what was written and the notice', async () => {
    const { fake, writer } = await streaming();
    fake.pushMessage({ text: 'go' });
    const w = await writer();
    w.write('Once upon ');
    await fake.waitForCall('sendMessageDraft');
    w.write('a time');
    w.fail(new Error('model overloaded'));
    const sent = await fake.waitForCall('sendMessage');
    expect(sent.params.text).toBe('Once upon a time\n\n(cut short)');
    expect(fake.drafts()[0]!.params.text).toBe('Once upon ');
  });
});

describe('telegram: streamed replies in a group', () => {
  it('sends plain text, edits it as it grows, ends with an HTML edit and the keyboard, then the image; kept to 20/min (burst 3)', async () => {
    const { fake, writer } = await streaming();
    fake.pushMessage({ text: 'go', chat: group });
    const w = await writer();
    w.write('a < b');
    const first = await fake.waitForCall('sendMessage');
    expect(first.params).toMatchObject({ chat_id: '-100', text: 'a < b' });
    expect(first.params.parse_mode).toBeUndefined();
    expect(JSON.parse(first.params.reply_parameters!)).toMatchObject({ message_id: expect.any(Number) });
    w.write(' & c');
    await fake.waitForCall('editMessageText');
    w.write({ type: 'buttons', rows: [[{ label: 'Again', value: 'again' }]] });
    w.write({ type: 'image', data: png, mime: 'image/png', name: 'chart.png' });
    w.end();
    const photo = await fake.waitForCall('sendPhoto', () => true, 6000);
    expect(shown(fake)).toEqual(['sendMessage:a < b', 'editMessageText:a < b & c', 'editMessageText:a &lt; b &amp; c', 'sendPhoto:']);
    const [edit, last] = fake.edits();
    expect(edit!.params.parse_mode).toBeUndefined();
    expect(last!.params.parse_mode).toBe('HTML');
    expect(JSON.parse(last!.params.reply_markup!)).toEqual({ inline_keyboard: [[{ text: 'Again', callback_data: 'again' }]] });
    expect(fake.textOf(-100, last!.params.message_id!)).toBe('a < b & c');
    expect(photo.files.photo!.data.equals(png)).toBe(true);
    expect(photo.params.reply_parameters).toBeUndefined();
    // The fourth call in a group waits for its slot: 20 a minute is one every 3 s after a burst of 3.
    expectPaced(callsOf(fake), 3, 3000);
  }, 10_000);

  it('goes on in a new message past 4,096 characters, each message within it, the text whole', async () => {
    const para = (n: number) => `${'x'.repeat(995)} ${n}.\n`; // 1,000 characters
    const all = Array.from({ length: 9 }, (_, i) => para(i)).join('');
    const { fake, writer } = await streaming({ yaml: ', limits: { chat: { count: 50, per: 1s } }' });
    fake.pushMessage({ text: 'go', chat: group });
    const w = await writer();
    w.write(para(0));
    await fake.waitForCall('sendMessage');
    for (let i = 1; i < 9; i++) w.write(para(i));
    w.end();
    // The first message grew and was finished at the limit; the rest went on in new ones.
    const texts = await waitFor(() => {
      const shownNow = fake!.delivered().map((c) => fake!.textOf(-100, c.messageId!)!);
      return shownNow.join('\n') === all.trim() && shownNow;
    }, 3000, 'the whole text shown');
    expect(texts).toHaveLength(3);
    for (const t of texts) expect(t.length).toBeLessThanOrEqual(4096);
    expect(fake.edits().map((e) => [e.params.message_id, e.params.parse_mode])).toEqual([[String(fake.delivered()[0]!.messageId), 'HTML']]);
  });

  it('a refused edit (the message was deleted): what was shown stays, the rest arrives as a new message', async () => {
    const { fake, writer } = await streaming();
    fake.pushMessage({ text: 'go', chat: group });
    const w = await writer();
    w.write('first part. ');
    await fake.waitForCall('sendMessage');
    fake.deleteMessage(-100, firstId(fake));
    w.write('second part.');
    w.end();
    await waitFor(() => fake!.sent().length === 2, 5000, 'the rest as a new message');
    expect(fake.edits().map((e) => e.status)).toEqual([400]);
    expect(fake.sent().map((c) => [c.params.text, c.params.parse_mode])).toEqual([
      ['first part. ', undefined],
      ['second part.', 'HTML'],
    ]);
    expect(fake.sent()[1]!.params.reply_parameters).toBeUndefined();
  });

  it('a 429 on an edit is waited out (retry_after), then the later text is shown in the same message', async () => {
    const { fake, writer } = await streaming({ yaml: ', limits: { chat: { count: 50, per: 1s } }' });
    fake.failNext('editMessageText', { error_code: 429, description: 'Too Many Requests: retry after 1', retry_after: 1 });
    fake.pushMessage({ text: 'go', chat: group });
    const w = await writer();
    w.write('one');
    await fake.waitForCall('sendMessage');
    w.write(' two');
    const refused = await fake.waitForCall('editMessageText', (c) => c.status === 429);
    w.write(' three');
    w.end();
    const last = await fake.waitForCall('editMessageText', (c) => c.params.parse_mode === 'HTML');
    expect(last.at - refused.at).toBeGreaterThanOrEqual(950);
    expect(fake.textOf(-100, firstId(fake))).toBe('one two three');
    expect(fake.sent()).toHaveLength(1);
  });

  it('a stream that throws keeps what was shown and ends with the notice; "message is not modified" counts as shown', async () => {
    const { fake, writer } = await streaming({ yaml: ', limits: { chat: { count: 50, per: 1s } }' });
    fake.pushMessage({ text: 'go', chat: group });
    const w = await writer();
    w.write('Once upon');
    await fake.waitForCall('sendMessage');
    w.write(' '); // Telegram trims: this edit changes nothing and is refused as not modified
    await fake.waitForCall('editMessageText');
    expect(fake.edits()[0]!.status).toBe(400);
    w.write('a time');
    w.fail(new Error('model overloaded'));
    await fake.waitForCall('editMessageText', (c) => c.params.parse_mode === 'HTML');
    expect(fake.textOf(-100, firstId(fake))).toBe('Once upon a time\n\n(cut short)');
    expect(fake.sent()).toHaveLength(1);
  });
});
