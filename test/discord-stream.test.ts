// Streamed replies on Discord, through the runtime and discord.js against the fake REST API: the
// message is sent with the first text and edited as it grows, the last edit carrying the final rendering.

import { afterEach, describe, expect, it } from 'vitest';
import discord, { DiscordAdapter } from '../adapters/discord/index.js';
import { defineAdapter, type AdapterDefinition } from '../src/adapter.js';
import type { StreamChunk } from '../src/bot/stream.js';
import { definitions } from '../src/runtime/registry.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { FakeDiscord, guildMessage, token } from './fakes/discord.js';
import { startRuntime, waitFor } from './helpers.js';
import { streamingBot } from './stream-bot.js';

const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
const channel = '300000000000000001';

const discordFast = defineAdapter({
  ...discord,
  create: (config) => new DiscordAdapter({ ...config, identifyInterval: 0 }, { readyTimeoutMs: 1500, stallMs: 10_000, livenessPollMs: 100 }),
});

let runtime: Runtime | undefined;
let fake: FakeDiscord | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  runtime = fake = undefined;
});

/** A runtime whose bot answers with a stream the test writes (`writer()`), or with `chunks` yielded one per `gapMs`. */
async function streaming(options: { chunks?: StreamChunk[]; gapMs?: number } = {}) {
  const f = (fake = await new FakeDiscord().start());
  const { bot, writer } = streamingBot(options);
  const yaml = `platforms:\n  - { id: dc, type: discord, token: "${token}", apiRoot: "${f.url}" }\ndelivery: { streamNotice: "(cut short)" }\n`;
  runtime = (await startRuntime(yaml, { bot, definitions: [...definitions, discordFast as unknown as AdapterDefinition] })).runtime;
  await waitFor(() => f.gateway.connected, 4000, 'the gateway session');
  const asked = guildMessage(f, 'go');
  f.gateway.push('MESSAGE_CREATE', asked);
  return { fake: f, asked, writer };
}

/** Sends and edits of the reply, in order, as their method and content. */
const shown = (f: FakeDiscord) => f.calls.filter((c) => c.path.includes('/messages')).map((c) => `${c.method}:${c.status}`);

describe('discord: streamed replies', () => {
  it('sends, then edits about once a second (within 5 per 5 s), quoting the message; the text exact', async () => {
    const words = Array.from({ length: 50 }, (_, i) => `w${i} `);
    const { fake, asked } = await streaming({ chunks: words, gapMs: 50 });
    const first = await waitFor(() => fake.sent[0], 4000, 'the first send');
    expect(first.body).toMatchObject({ allowed_mentions: { parse: [] }, message_reference: { message_id: asked.id } });
    const done = await waitFor(() => fake.message(first.id)?.content === words.join('') && fake.edits.at(-1), 8000, 'the whole text');
    expect(fake.sent).toHaveLength(1);
    const times = [first.at, ...fake.edits.map((e) => e.at)];
    // ~2.5 s of stream: a few edits, not one per word; a second apart, 5 at most in any 5 s.
    expect(times.length).toBeGreaterThanOrEqual(3);
    expect(times.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(940);
    for (let i = 5; i < times.length; i++) expect(times[i]! - times[i - 5]!).toBeGreaterThanOrEqual(4940);
    // Half-written text pings no one; the last edit has the final rendering's mentions.
    for (const e of fake.edits.slice(0, -1)) expect(e.body.allowed_mentions).toEqual({ parse: [], replied_user: false });
    expect(done.body.allowed_mentions).toMatchObject({ parse: [], users: [] });
    expect(done.status).toBe(200);
  }, 15_000);

  it('the last edit carries the buttons and uploads the file; mentions in it may ping', async () => {
    const { fake, writer } = await streaming();
    const w = await writer();
    w.write('Here is ');
    const first = await waitFor(() => fake.sent[0], 4000, 'the first send');
    expect(first.body.content).toBe('Here is ');
    w.write('the chart for ');
    w.write({ type: 'mention', userId: '200000000000000001', name: 'alice' });
    w.write({ type: 'buttons', rows: [[{ label: 'Again', value: 'again' }]] });
    w.write({ type: 'image', data: png, mime: 'image/png', name: 'chart.png' });
    w.end();
    const last = await waitFor(() => fake.edits.find((e) => e.files.length > 0), 4000, 'the last edit');
    expect(shown(fake)).toEqual(['POST:200', 'PATCH:200']);
    const message = fake.message(first.id)!;
    expect(message.content).toBe('Here is the chart for <@200000000000000001>');
    expect(message.components).toEqual([{ type: 1, components: [{ type: 2, style: 1, label: 'Again', custom_id: 'again' }] }]);
    expect(last.body.allowed_mentions).toMatchObject({ users: ['200000000000000001'] });
    expect(last.files[0]!.data.equals(png)).toBe(true);
    expect(message.attachments).toMatchObject([{ filename: 'chart.png' }]);
  });

  it('goes on in a new message past 2,000 characters, each message within it, the text whole', async () => {
    const para = (n: number) => `${'y'.repeat(495)} ${n}.\n`; // 500 characters
    const all = Array.from({ length: 10 }, (_, i) => para(i)).join('');
    const { fake, writer } = await streaming();
    const w = await writer();
    w.write(para(0));
    await waitFor(() => fake.sent[0], 4000, 'the first send');
    for (let i = 1; i < 10; i++) w.write(para(i));
    w.end();
    const texts = await waitFor(() => {
      const now = fake.sent.map((s) => fake.message(s.id)?.content as string);
      return now.join('\n') === all && now;
    }, 6000, 'the whole text');
    expect(texts.length).toBeGreaterThanOrEqual(3);
    for (const t of texts) expect(t.length).toBeLessThanOrEqual(2000);
  });

  it('an edit refused with 404 Unknown Message: what was shown stays, the rest arrives as a new message', async () => {
    const { fake, writer } = await streaming();
    const w = await writer();
    w.write('first part. ');
    const first = await waitFor(() => fake.sent[0], 4000, 'the first send');
    fake.deleteMessage(first.id);
    w.write('second part.');
    w.end();
    const second = await waitFor(() => fake.sent[1], 4000, 'the rest');
    expect(fake.edits.map((e) => e.status)).toEqual([404]);
    expect(second.body.content).toBe('second part.');
    expect(second.body.message_reference).toBeUndefined();
  });

  it('a 429 on an edit is waited out (retry_after), then the later text shows in the same message', async () => {
    const { fake, writer } = await streaming();
    fake.rateLimitNext(1, 'PATCH');
    const w = await writer();
    w.write('one');
    const first = await waitFor(() => fake.sent[0], 4000, 'the first send');
    w.write(' two');
    const refused = await waitFor(() => fake.edits.find((e) => e.status === 429), 4000, 'the refused edit');
    w.write(' three');
    w.end();
    const last = await waitFor(() => fake.message(first.id)?.content === 'one two three' && fake.edits.at(-1), 4000, 'the whole text');
    expect(last.at - refused.at).toBeGreaterThanOrEqual(950);
    expect(fake.sent).toHaveLength(1);
  });

  it('a stream that throws keeps what was shown and ends with the notice', async () => {
    const { fake, writer } = await streaming();
    const w = await writer();
    w.write('Once upon');
    const first = await waitFor(() => fake.sent[0], 4000, 'the first send');
    w.write(' a time');
    w.fail(new Error('model overloaded'));
    await waitFor(() => fake.message(first.id)?.content === 'Once upon a time\n\n(cut short)', 4000, 'the notice');
    expect(fake.sent).toHaveLength(1);
  });
});
