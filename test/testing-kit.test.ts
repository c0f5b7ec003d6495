// The test kit as a bot author uses it: only switchboard (../src/index.js) and switchboard/testing
// (../testing/index.js), nothing internal.

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineBot, isMedia } from '../src/index.js';
import { createTestBot, discordGuildMessage, discordToken, FakeDiscord, FakeTelegram, startSwitchboard, type RunningSwitchboard, type TestBot, type TestPlatform } from '../testing/index.js';

const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ee9c8a9b0000000049454e44ae426082', 'hex');

/** What an author would write: a command, a menu with buttons, an image reader, an echo that in groups answers only when addressed. */
const bot = defineBot((b) => {
  b.command('ping', () => 'pong');
  b.command('menu', (ctx) => ctx.reply([{ type: 'text', text: 'Pick a colour' }, { type: 'buttons', rows: [[{ label: 'Red', value: 'colour:red' }, { label: 'Blue', value: 'colour:blue' }]] }]));
  b.command('announce <channel> <what:rest>', (ctx) => {
    ctx.send({ botId: ctx.message.botId, channelId: ctx.args.channel }, `news: ${ctx.args.what}`);
    return 'announced';
  });
  b.on('message', async (ctx) => {
    const image = ctx.message.content.find(isMedia);
    if (image) return `an image of ${(await ctx.download(image)).data.length} bytes`;
    if (ctx.text.startsWith('colour:')) return `you picked ${ctx.text.slice(7)}, ${ctx.message.author.id}`;
    if (ctx.message.channel.type !== 'direct' && !ctx.message.mentionsBot) return;
    return `echo <${ctx.text}>`;
  });
});

let t: TestBot | undefined;
let switchboard: RunningSwitchboard | undefined;
let fake: { stop(): Promise<void> } | undefined;
afterEach(async () => {
  await t?.stop();
  await switchboard?.stop();
  await fake?.stop();
  t = switchboard = fake = undefined;
});

const platforms: TestPlatform[] = ['telegram', 'discord', 'lark', 'vk', 'tencent-im', 'qq', 'wecom'];
/** A user of each platform, in its own id format. */
const bob: Record<TestPlatform, { id: string; name: string }> = { telegram: { id: '77', name: 'Bob' }, discord: { id: '200000000000000077', name: 'bob' }, lark: { id: 'ou_bob0000000000000000000000000000b', name: 'Bob' }, vk: { id: '1077', name: 'Bob' }, 'tencent-im': { id: 'bob', name: 'bob' }, qq: { id: 'B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0', name: 'bob' }, wecom: { id: 'bob', name: 'bob' } };
/** Another chat of each platform, for ctx.send (on QQ a guild channel: groups and users take replies only). */
const newsChat: Record<TestPlatform, string> = { telegram: '-1009876', discord: '600000000000000001', lark: 'oc_group00000000000000000000000001', vk: '123456:2000000005', 'tencent-im': 'group:@TGS#NEWS', qq: 'channel:100020', wecom: 'user:zhangsan' };

describe.each(platforms)('createTestBot on %s', (platform) => {
  it('answers a command with what the platform received', async () => {
    t = createTestBot(bot, { platform });
    const replies = await t.send('/ping');
    expect(replies.map((r) => r.text)).toEqual(['pong']);
  });

  it('answers in a direct chat, and in a group only when mentioned', async () => {
    t = createTestBot(bot, { platform });
    expect((await t.send({ text: 'hi', chat: 'direct' })).map((r) => r.text)).toEqual([platform === 'telegram' ? 'echo &lt;hi&gt;' : 'echo <hi>']);
    // A WeCom app talks with users one to one: group chats are a group robot's.
    if (platform === 'wecom') return void (await expect(t.send({ text: 'chatter', chat: 'group' })).rejects.toThrow(/one to one/));
    expect(await t.send({ text: 'chatter', chat: 'group' })).toEqual([]);
    const addressed = await t.send({ text: 'hello', chat: 'group', mention: true });
    expect(addressed).toHaveLength(1);
    expect(addressed[0]!.text).toContain('hello');
  });

  it('gives each of two users talking at once in a group the replies to their own message', async () => {
    if (platform === 'wecom') return; // an app's chats are one to one
    t = createTestBot(bot, { platform });
    const [first, second] = await Promise.all([t.send({ text: 'one', chat: 'group', mention: true }), t.send({ text: 'two', chat: 'group', mention: true, user: bob[platform] })]);
    // Telegram keeps the @mention in the text; the other platforms take it out.
    expect(first).toHaveLength(1);
    expect(first![0]!.text).toMatch(/one/);
    expect(second).toHaveLength(1);
    expect(second![0]!.text).toMatch(/two/);
  });

  it('shows buttons, and a click arrives from the user who clicked', async () => {
    t = createTestBot(bot, { platform });
    const [menu] = await t.send('/menu');
    // Tencent IM, QQ and WeCom show no buttons from a bot: they are listed as lines saying what to send.
    if (platform === 'tencent-im' || platform === 'qq' || platform === 'wecom') expect(menu!.text).toBe('Pick a colour\n1. Red — send "colour:red"\n2. Blue — send "colour:blue"');
    else expect(menu!.buttons).toEqual([[{ label: 'Red', value: 'colour:red' }, { label: 'Blue', value: 'colour:blue' }]]);
    const replies = await t.send({ click: 'colour:blue', user: bob[platform] });
    expect(replies.map((r) => r.text)).toEqual([`you picked blue, ${bob[platform].id}`]);
  });

  it('hands the bot the bytes of an image the user sent', async () => {
    t = createTestBot(bot, { platform });
    const replies = await t.send({ image: png });
    expect(replies.map((r) => r.text)).toEqual([`an image of ${png.length} bytes`]);
  });

  it('records what the bot sent to other chats apart from the replies', async () => {
    t = createTestBot(bot, { platform });
    const news = newsChat[platform];
    const replies = await t.send(`/announce ${news} v2 is out`);
    expect(replies.map((r) => r.text)).toEqual(['announced']);
    expect(t.sent().filter((r) => r.chat === news).map((r) => r.text)).toEqual(['news: v2 is out']);
  });
});

describe('createTestBot: conversations and state', () => {
  const asking = defineBot((b) => {
    b.command('name', async (ctx) => {
      const answer = await ctx.prompt('Your name?', { timeout: '1m' });
      if (answer.timedOut) return;
      await ctx.state.user.set('name', answer.text);
      return `Hello, ${answer.text}!`;
    });
    b.command('count', async (ctx) => `count ${await ctx.state.chat.update<number>('count', (n) => (n ?? 0) + 1)}`);
    b.command('whoami', async (ctx) => (await ctx.state.user.get<string>('name')) ?? 'a stranger');
  });

  it.each(['telegram', 'discord'] as const)('on %s: the question answers the first message, the greeting the answer, and what it kept is there later', async (platform) => {
    t = createTestBot(asking, { platform });
    expect((await t.send('/name')).map((r) => r.text)).toEqual(['Your name?']);
    expect((await t.send('Ann')).map((r) => r.text)).toEqual(['Hello, Ann!']);
    expect((await t.send('/whoami')).map((r) => r.text)).toEqual(['Ann']);
    expect((await t.send({ text: '/whoami', user: { id: platform === 'telegram' ? '4242' : '424242424242424242', name: 'Bob' } })).map((r) => r.text)).toEqual(['a stranger']);
    for (const n of [1, 2]) expect((await t.send('/count')).map((r) => r.text)).toEqual([`count ${n}`]);
  });
});

describe('createTestBot: its life', () => {
  it('starts nothing before the first send, so stop() right away is fine', async () => {
    const idle = createTestBot(bot, { platform: 'discord' });
    expect(idle.runtime).toBeUndefined();
    await idle.stop();
  });

  it('names the platforms it knows when given another', () => {
    expect(() => createTestBot(bot, { platform: 'icq' as TestPlatform })).toThrow('createTestBot: platform "icq" is not one of telegram, discord, lark, vk, tencent-im, qq, wecom');
  });
});

describe('createTestBot: the platform payload', () => {
  it('gives Telegram sendMessage params, escaped for HTML and split at 4096 characters', async () => {
    t = createTestBot(defineBot((b) => b.command('long', () => `<b>${'x'.repeat(5000)}`)), { platform: 'telegram' });
    const replies = await t.send('/long');
    expect(replies.map((r) => r.method)).toEqual(['sendMessage', 'sendMessage']);
    expect(replies[0]!.payload).toMatchObject({ chat_id: '42', parse_mode: 'HTML' });
    expect(replies[0]!.text.startsWith('&lt;b&gt;x')).toBe(true);
    expect(replies.map((r) => r.text).join('')).toBe(`&lt;b&gt;${'x'.repeat(5000)}`);
  });

  it('sends without waiting out the platform limits: pacing is off by default', async () => {
    t = createTestBot(defineBot((b) => b.command('count', (ctx) => ['1', '2', '3', '4', '5'].forEach((n) => ctx.reply(n)))), { platform: 'telegram' });
    const started = performance.now();
    const replies = await t.send('/count');
    // Paced, the last two would wait about a second each (Telegram: one a second in a chat, after a burst of 3).
    expect(performance.now() - started).toBeLessThan(1500);
    expect(replies.map((r) => r.text)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('gives the Discord message body, mentions disabled', async () => {
    t = createTestBot(defineBot((b) => b.command('ping', () => 'pong')), { platform: 'discord' });
    const [reply] = await t.send('/ping');
    expect(reply!.payload).toMatchObject({ content: 'pong', allowed_mentions: { parse: [] } });
  });
});

describe('the real runtime against an exported fake, end to end', () => {
  it('answers a Telegram user through long polling', async () => {
    const telegram = new FakeTelegram();
    fake = telegram;
    await telegram.start();
    switchboard = await startSwitchboard(`platforms:\n  - { id: tg, type: telegram, token: "${telegram.token}", apiRoot: "${telegram.url}" }\n`, { bot });
    telegram.pushMessage({ text: '/ping', entities: [{ type: 'bot_command', offset: 0, length: 5 }] });
    const sent = await telegram.waitForCall('sendMessage', undefined, 5000);
    expect(sent.params).toMatchObject({ chat_id: '42', text: 'pong', parse_mode: 'HTML' });
    expect(telegram.delivered()).toHaveLength(1);
  });

  it('answers a Discord guild message that mentions the bot, over the gateway', async () => {
    const discord = new FakeDiscord();
    fake = discord;
    await discord.start();
    switchboard = await startSwitchboard(`platforms:\n  - { id: dc, type: discord, token: "${discordToken}", apiRoot: "${discord.url}", identifyInterval: 0ms }\n`, { bot });
    discord.gateway.push('MESSAGE_CREATE', discordGuildMessage(discord, `<@${discord.botUser.id}> hi there`, { mentions: [{ ...discord.botUser, bot: true }] }));
    await vi.waitFor(() => expect(discord.delivered()).toHaveLength(1), { timeout: 5000 });
    expect(discord.delivered()[0]).toMatchObject({ channelId: '300000000000000001', body: { content: 'echo <hi there>' } });
  });
});

describe('the CLI against an exported fake, end to end', () => {
  it('switchboard start --config runs a bot file that answers a Telegram user', async () => {
    const telegram = new FakeTelegram();
    fake = telegram;
    await telegram.start();
    const folder = mkdtempSync(join(tmpdir(), 'switchboard-kit-'));
    const bot = fileURLToPath(new URL('../bots/echo.ts', import.meta.url));
    writeFileSync(join(folder, 'switchboard.yaml'), `bot: ${bot}\nstore: { type: memory }\nserver: { host: 127.0.0.1, port: 0 }\nplatforms:\n  - { id: tg, type: telegram, token: "${telegram.token}", apiRoot: "${telegram.url}" }\n`);
    const cli = fileURLToPath(new URL('../bin/switchboard.js', import.meta.url));
    const child = spawn(process.execPath, [cli, 'start', '--config', 'switchboard.yaml'], { cwd: folder, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      telegram.pushMessage({ text: '/ping', entities: [{ type: 'bot_command', offset: 0, length: 5 }] });
      const sent = await telegram.waitForCall('sendMessage', undefined, 15_000);
      expect(sent.params).toMatchObject({ chat_id: '42', text: 'pong' });
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});

describe('docs/testing.md, as written there', () => {
  const docBot = defineBot((b) => {
    b.command('menu', (ctx) => ctx.reply([{ type: 'text', text: 'Pick one' }, { type: 'buttons', rows: [[{ label: 'Red', value: 'red' }]] }]));
    b.on('message', async (ctx) => {
      const image = ctx.message.content.find(isMedia);
      if (image) return `${(await ctx.download(image)).data.length} bytes`;
      if (ctx.message.channel.type !== 'direct' && !ctx.message.mentionsBot) return;
      return `you said ${ctx.text}`;
    });
  });

  it('shows a menu and reads the click', async () => {
    t = createTestBot(docBot, { platform: 'discord' });
    const [menu] = await t.send('/menu');
    expect(menu!.buttons).toEqual([[{ label: 'Red', value: 'red' }]]);
    expect((await t.send({ click: 'red' }))[0]!.text).toBe('you said red');
  });

  it('answers in a group only when mentioned', async () => {
    t = createTestBot(docBot, { platform: 'lark' });
    expect(await t.send({ text: 'chatter', chat: 'group' })).toEqual([]);
    expect((await t.send({ text: 'hi', chat: 'group', mention: true }))[0]!.text).toBe('you said hi');
  });

  it('reads an image', async () => {
    t = createTestBot(docBot, { platform: 'telegram' });
    const replies = await t.send({ image: new Uint8Array([1, 2, 3]) });
    expect(replies[0]!.text).toBe('3 bytes');
  });
});
