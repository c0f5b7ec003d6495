// Discord end to end: the real discord.js client against the fake REST API and gateway ->
// pipeline -> the example bot -> the replies that reached the fake.

import { afterEach, describe, expect, it } from 'vitest';
import discord, { DiscordAdapter } from '../adapters/discord/index.js';
import echo from '../bots/echo.js';
import { defineAdapter, type AdapterDefinition } from '../src/adapter.js';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { Message } from '../src/message.js';
import { definitions } from '../src/runtime/registry.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { CallbackServer } from './fakes/callback-server.js';
import { atBot, directMessage, FakeDiscord, guildCreate, guildMessage, token } from './fakes/discord.js';
import { sleep, startRuntime, waitFor } from './helpers.js';

const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ee9c8a9b0000000049454e44ae426082', 'hex');

/** The real adapter with short timings, and no 5 s wait between IDENTIFYs. */
const discordFast = defineAdapter({
  ...discord,
  create: (config) => new DiscordAdapter({ ...config, identifyInterval: 0 }, { readyTimeoutMs: 1500, stallMs: 10_000, livenessPollMs: 100 }),
});

/** Fast retries, so a test sees the core's policy at work without waiting out production backoffs. */
const fastRetries = 'delivery: { attempts: 4, initialDelay: 10ms, maxDelay: 50ms }\n';

let runtime: Runtime | undefined;
let fake: FakeDiscord | undefined;
let hooks: CallbackServer | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  await hooks?.stop();
  runtime = fake = hooks = undefined;
});

async function setup(options: { bot?: Bot; extra?: string; yaml?: string; before?: (fake: FakeDiscord) => void } = {}) {
  const f = (fake = await new FakeDiscord().start());
  options.before?.(f);
  const yaml = `${options.yaml ?? ''}platforms:\n  - { id: dc, type: discord, token: "${token}", apiRoot: "${f.url}"${options.extra ?? ''} }\n`;
  const started = await startRuntime(yaml, { bot: options.bot ?? echo, definitions: [...definitions, discordFast as unknown as AdapterDefinition] });
  runtime = started.runtime;
  await waitFor(() => f.gateway.connected, 4000, 'the gateway session');
  return { fake: f, logs: started.logs };
}

/** Pushes a guild message and waits for the echo of its text to reach the fake. */
async function roundTrip(f: FakeDiscord, text: string) {
  const d = guildMessage(f, atBot(f, text));
  f.gateway.push('MESSAGE_CREATE', d);
  const sent = await waitFor(() => f.sent.find((s) => s.body.message_reference?.message_id === d.id), 5000, `the answer to "${text}"`);
  expect(sent.body.content).toBe(text);
  return sent;
}

describe('discord: messages', () => {
  it('identifies with the token and intents, and echoes a guild message quoting it', async () => {
    const { fake } = await setup();
    expect(fake.gateway.identifies).toHaveLength(1);
    expect(fake.gateway.identifies[0]).toMatchObject({ token, intents: 1 | (1 << 9) | (1 << 12) | (1 << 15), compress: false, shard: [0, 1] });
    expect(fake.gateway.queries[0]).toBe('?v=10&encoding=json');
    const sent = await roundTrip(fake, 'hello guild');
    expect(sent.channelId).toBe('300000000000000001');
    expect(sent.contentType).toMatch(/^application\/json/);
    expect(sent.body).toMatchObject({ content: 'hello guild', message_reference: { fail_if_not_exists: false }, allowed_mentions: { parse: [], users: [], roles: [] } });
  });

  it('answers a DM, and /ping with pong', async () => {
    const { fake } = await setup();
    const dm = directMessage(fake, 'in private');
    fake.gateway.push('MESSAGE_CREATE', dm);
    const ping = guildMessage(fake, '/ping');
    fake.gateway.push('MESSAGE_CREATE', ping);
    await waitFor(() => fake.sent.length === 2, 4000, 'two replies');
    // Two chats are answered side by side: no order between them.
    expect(fake.sent.map((s) => [s.channelId, s.body.content, s.body.message_reference.message_id]).sort()).toEqual([
      ['300000000000000001', 'pong', ping.id],
      ['500000000000000001', 'in private', dm.id],
    ]);
  });

  it('normalizes mentions, replies and the channel kind, and strips the leading @bot', async () => {
    const seen: Message[] = [];
    const bot = defineBot((b) => b.on('message', (ctx) => void seen.push(ctx.message)));
    const { fake } = await setup({ bot });
    const self = { ...fake.botUser, discriminator: '0', global_name: null, avatar: null, bot: true };
    const bob = { id: '200000000000000002', username: 'bob', discriminator: '0', global_name: 'Bob B', avatar: null };
    fake.gateway.push('MESSAGE_CREATE', guildMessage(fake, `<@${fake.botUser.id}> hi <@!${bob.id}> and <@&600000000000000001> @everyone`, { mentions: [self, bob], reference: '700000000000000001' }));
    fake.gateway.push('MESSAGE_CREATE', directMessage(fake, 'plain'));
    fake.gateway.push('MESSAGE_CREATE', guildMessage(fake, 'mine', { author: fake.botUser })); // our own message: ignored
    await waitFor(() => seen.length === 2, 4000);
    await sleep(100);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatchObject({
      platform: 'discord',
      botId: 'dc',
      channel: { id: '300000000000000001', type: 'channel', guildId: '400000000000000001' },
      author: { id: '200000000000000001', username: 'alice', isBot: false },
      content: [
        { type: 'quote', messageId: '700000000000000001' },
        { type: 'text', text: 'hi ' },
        { type: 'mention', userId: bob.id, name: 'Bob B' },
        { type: 'text', text: ' and ' },
        { type: 'mention', userId: '&600000000000000001' },
        { type: 'text', text: ' ' },
        { type: 'mention', all: true, name: 'everyone' },
      ],
      replyTo: '700000000000000001',
      mentionsBot: true,
    });
    expect(seen[1]).toMatchObject({ channel: { id: '500000000000000001', type: 'direct' }, text: 'plain', mentionsBot: false });
  });

  it('hands the bot a guild message\'s payload as Discord sent it, in a guild discord.js knows', async () => {
    const seen: Message[] = [];
    const bot = defineBot((b) => b.on('message', (ctx) => void seen.push(ctx.message)));
    const { fake } = await setup({ bot });
    fake.gateway.push('GUILD_CREATE', guildCreate());
    const d = guildMessage(fake, 'in a known guild');
    fake.gateway.push('MESSAGE_CREATE', d);
    await waitFor(() => seen.length === 1, 4000);
    expect(seen[0]).toMatchObject({ channel: { id: d.channel_id, type: 'channel', guildId: d.guild_id }, text: 'in a known guild' });
    // Not with discord.js's User written into member, as building its own Message would leave it.
    expect(seen[0]!.raw).toEqual(d);
  });

  it('sends an image back as a multipart upload (payload_json + files[0])', async () => {
    const { fake } = await setup();
    const url = fake.hostFile('cat.png', png, 'image/png');
    const d = guildMessage(fake, atBot(fake), { attachments: [{ id: '1', filename: 'cat.png', content_type: 'image/png', size: png.length, url, proxy_url: url }] });
    fake.gateway.push('MESSAGE_CREATE', d);
    const [sent] = await waitFor(() => fake.sent.length === 1 && fake.sent, 4000, 'the image reply');
    expect(sent!.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(sent!.body).toMatchObject({ attachments: [{ id: 0, filename: 'cat.png' }], message_reference: { message_id: d.id } });
    expect(sent!.files).toHaveLength(1);
    expect(sent!.files[0]).toMatchObject({ field: 'files[0]', name: 'cat.png', type: 'image/png' });
    expect(sent!.files[0]!.data.equals(png)).toBe(true);
  });

  it('uploads bytes the bot made, shows an outside image URL as an embed and an outside file as a link', async () => {
    const bot = defineBot((b) =>
      b.on('message', (ctx) =>
        ctx.reply([
          { type: 'text', text: 'here:' },
          { type: 'image', data: new Uint8Array(png), mime: 'image/png' },
          { type: 'file', data: new Uint8Array(Buffer.from('a,b\n')), mime: 'text/csv', name: 'data.csv' },
          { type: 'image', url: 'https://images.example/cat.jpg' },
          { type: 'file', url: 'https://files.example/report.pdf', name: 'report.pdf' },
        ]),
      ),
    );
    const { fake } = await setup({ bot });
    fake.gateway.push('MESSAGE_CREATE', guildMessage(fake, 'media please'));
    const [sent] = await waitFor(() => fake.sent.length === 1 && fake.sent, 4000, 'the media reply');
    expect(sent!.body).toMatchObject({
      content: 'here:\n[report.pdf](https://files.example/report.pdf)',
      embeds: [{ image: { url: 'https://images.example/cat.jpg' } }],
      attachments: [{ id: 0, filename: 'image.png' }, { id: 1, filename: 'data.csv' }],
    });
    expect(sent!.files.map((f) => [f.field, f.name, f.type, f.data.length])).toEqual([
      ['files[0]', 'image.png', 'image/png', png.length],
      ['files[1]', 'data.csv', 'text/csv', 4],
    ]);
  });

  it('splits text over 2000 characters into several messages instead of failing', async () => {
    const { fake } = await setup();
    const words = Array.from({ length: 700 }, (_, i) => `w${i}`).join(' ');
    const d = guildMessage(fake, `/echo ${words}`);
    fake.gateway.push('MESSAGE_CREATE', d);
    await sleep(50);
    const parts = await waitFor(() => fake.sent.length >= 2 && fake.sent, 4000, 'the split reply');
    await sleep(100);
    expect(parts.every((p) => p.body.content.length <= 2000)).toBe(true);
    expect(parts.map((p) => p.body.content).join(' ')).toBe(words);
    expect(parts[0]!.body.message_reference?.message_id).toBe(d.id);
    expect(parts.slice(1).every((p) => p.body.message_reference === undefined)).toBe(true);
  });

  it('waits out a 429 as the core\'s retry, and then delivers the reply once', async () => {
    const { fake, logs } = await setup({ yaml: fastRetries });
    fake.rateLimitNext(0.4);
    const d = guildMessage(fake, atBot(fake, 'patience'));
    fake.gateway.push('MESSAGE_CREATE', d);
    await waitFor(() => fake.sent.find((s) => s.body.message_reference?.message_id === d.id), 5000, 'the delayed reply');
    const posts = fake.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/messages'));
    expect(posts.map((c) => c.status)).toEqual([429, 200]);
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(400);
    expect(fake.sent.map((s) => s.body.content)).toEqual(['patience']);
    expect(logs.filter((l) => l.msg === 'delivery failed; trying again').map((l) => l.kind)).toEqual(['rate-limited']);
  });

  it('tries a send refused with a 5xx again with the same nonce', async () => {
    const { fake, logs } = await setup({ yaml: fastRetries });
    fake.failNext(500, { message: 'Internal Server Error', code: 0 });
    const d = guildMessage(fake, atBot(fake, 'again'));
    fake.gateway.push('MESSAGE_CREATE', d);
    await waitFor(() => fake.sent.length === 1, 4000, 'the reply');
    const posts = fake.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/messages'));
    expect(posts.map((c) => c.status)).toEqual([500, 200]);
    expect(posts[0]!.nonce).toMatch(/^.{25}$/);
    expect(posts[1]!.nonce).toBe(posts[0]!.nonce);
    expect(fake.sent[0]!.body).toMatchObject({ content: 'again', enforce_nonce: true });
    // The core tried again, not discord.js on its own.
    expect(logs.filter((l) => l.msg === 'delivery failed; trying again').map((l) => l.kind)).toEqual(['retryable']);
  });

  it('does not double a reply when Discord stored the message but answered 502: the retry\'s nonce gets the stored one back', async () => {
    const { fake } = await setup({ yaml: fastRetries });
    fake.loseAnswerNext(502);
    const d = guildMessage(fake, `/echo ${'x'.repeat(1998)} tail`);
    fake.gateway.push('MESSAGE_CREATE', d);
    await waitFor(() => fake.sent.length >= 2, 4000, 'the reply');
    const posts = fake.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/messages'));
    expect(posts.map((c) => c.status)).toEqual([502, 200, 200]);
    expect(posts[1]!.nonce).toBe(posts[0]!.nonce);
    expect(fake.sent.map((s) => [s.body.content.length, s.body.content.slice(-4)])).toEqual([[1998, 'xxxx'], [4, 'tail']]);
    const [first, second] = fake.sent.map((s) => s.body);
    expect(first).toMatchObject({ enforce_nonce: true, nonce: expect.stringMatching(/^.{1,25}$/) });
    expect(second!.nonce).not.toBe(first!.nonce);
  });

  it('keeps a reply Discord refuses (403, missing access) as a dead letter without trying again', async () => {
    const { fake } = await setup({ yaml: fastRetries });
    fake.failNext(403, { message: 'Missing Access', code: 50001 });
    fake.gateway.push('MESSAGE_CREATE', guildMessage(fake, atBot(fake, 'nope')));
    const [dead] = await waitFor(async () => {
      const list = await runtime!.store.outbox.list('dead');
      return list.length > 0 && list;
    }, 4000, 'the dead letter');
    expect(dead!.error).toBe('Discord 403 (code 50001): Missing Access');
    expect(fake.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/messages'))).toHaveLength(1);
  });

  it('blocks a user when the onMessage callback answers 403, and the user sees its text', async () => {
    hooks = await new CallbackServer().start();
    hooks.on('onMessage', (ctx) => {
      ctx.status = 403;
      ctx.type = 'text/plain';
      ctx.body = 'You are blocked.';
    });
    const { fake } = await setup({ yaml: `callbacks:\n  onMessage: { url: "${hooks.url}/onMessage" }\n` });
    const d = guildMessage(fake, '/ping');
    fake.gateway.push('MESSAGE_CREATE', d);
    const sent = await waitFor(() => fake.sent[0], 4000, 'the refusal');
    expect(sent.body.content).toBe('You are blocked.');
    await sleep(200);
    expect(fake.sent.map((s) => s.body.content)).toEqual(['You are blocked.']);
    expect(hooks.received[0]?.body).toMatchObject({ stage: 'onMessage', bot: { id: 'dc', type: 'discord', selfId: fake.botUser.id }, message: { text: '/ping', platform: 'discord' } });
  });
});
