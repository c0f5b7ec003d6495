// The README's promise, through the README's own command: "Several platforms run side by side in
// one process under the same handler". Every fake platform server of the suite is started on
// 127.0.0.1, one YAML file names them all with bots/echo.ts as the handler, and the real CLI
// (`node bin/switchboard.js start --config <file>`) runs as a child process. A user then says
// /ping on every platform, the way that platform delivers it (signed, encrypted, over a gateway or
// a long poll), and the test reads what reached each fake: "pong", addressed to the right chat.
// A few plain texts are echoed too (in groups only when they mention the bot, as the example bot
// answers there). An onMessage callback sees every message, with the config as `switchboard check`
// prints it: no platform's secret in it. SIGTERM must then end the process with exit code 0.
//
// Covered: telegram (long polling), discord (gateway + REST), qq (Ed25519-signed webhook), lark
// (encrypted, signed webhook), wecom (group robot, encrypted callback), vk (Callback API),
// tencent-im (signed callbacks), http (poll mode) and sandbox. No platform is left out.

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { main } from '../src/runtime/cli.js';
import { masked } from '../src/runtime/secret.js';
import { CallbackServer } from './fakes/callback-server.js';
import { directMessage, guildMessage, token as discordToken } from './fakes/discord.js';
import { groupAt } from './fakes/qq.js';
import { textEvent } from './fakes/lark.js';
import { c2c as timC2c, group as timGroup, text as timText } from './fakes/tencent-im.js';
import { messageNew } from './fakes/vk.js';
import { robotText } from './fakes/wecom.js';
import { community, everyFake, everyPlatform } from './every-platform.js';
import { waitFor } from './helpers.js';

const root = join(import.meta.dirname, '..');
const apiKey = 'all-platforms-key-0123456789';
const ids = ['tg', 'dc', 'qq', 'lark', 'wecom', 'vk', 'tim', 'api', 'sandbox'];
const callbackSecret = `whsec_${Buffer.from('all-platforms-callback-secret').toString('base64')}`;

const fakes = everyFake();
const { telegram, discord, qq, lark, wecom, vk, tim } = fakes;
const callbacks = new CallbackServer();

let dir = '';
let configFile = '';
let url = '';
let output = '';
let child: ChildProcessByStdio<null, Readable, Readable> | undefined;
let exited: Promise<number | null> = Promise.resolve(null);
let exitCode: number | null | undefined;

/** waitFor, but a timeout also shows what Switchboard logged, which is where the reason is. */
async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 8000): Promise<T> {
  try {
    return await waitFor(probe, timeoutMs, what);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- switchboard output (last 4000 chars) ---\n${output.slice(-4000)}`);
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const hook = (id: string) => `${url}/webhooks/${id}`;

beforeAll(async () => {
  await Promise.all([telegram.start(), discord.start(), qq.start(), lark.start(), wecom.start(), vk.start(), tim.start(), callbacks.start()]);
  dir = await mkdtemp(join(tmpdir(), 'sb-all-'));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const yaml = [
    `server: { host: 127.0.0.1, port: ${port}, publicUrl: "${url}", shutdownTimeout: 5s }`,
    `bot: "${join(root, 'bots/echo.ts')}"`,
    `callbacks: { onMessage: { url: "${callbacks.url}/onMessage", secret: "${callbackSecret}" } }`,
    'platforms:',
    ...everyPlatform(fakes, { apiKey, keyFile: join(dir, 'api-key.json') }),
    '',
  ].join('\n');
  configFile = join(dir, 'switchboard.yaml');
  await writeFile(configFile, yaml);

  const proc = spawn(process.execPath, [join(root, 'bin/switchboard.js'), 'start', '--config', configFile], { cwd: dir, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child = proc;
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  exited = new Promise((resolve) => proc.once('exit', (code) => resolve((exitCode = code))));

  await until('the "switchboard started" line', () => output.includes('"msg":"switchboard started"') || exitCode !== undefined, 15_000);
  expect(exitCode, output).toBeUndefined();
  // /healthz says "ok" once every connection a message travels over (Telegram's polling, Discord's gateway) is up.
  const health = await until(
    'every connection up on /healthz',
    async () => {
      const body = (await (await fetch(`${url}/healthz`)).json()) as { status: string; platforms: { id: string; connection?: string }[] };
      return body.status === 'ok' && body;
    },
    10_000,
  );
  expect(health.platforms.map((p) => p.id).sort()).toEqual([...ids].sort());
  expect(health.platforms.filter((p) => p.connection).map((p) => `${p.id}:${p.connection}`).sort()).toEqual(['dc:up', 'tg:up']);
  expect(discord.gateway.connected).toBe(true);
}, 30_000);

afterAll(async () => {
  if (child && exitCode === undefined) {
    child.kill('SIGKILL');
    await exited;
  }
  await Promise.all([telegram, discord, qq, lark, wecom, vk, tim, callbacks].map((f) => f.stop().catch(() => undefined)));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('all platforms side by side in one `switchboard start` process, one handler', () => {
  it('answers /ping with pong on telegram, in the chat it came from', async () => {
    telegram.pushMessage({ text: '/ping' });
    const sent = await until('pong at the fake Telegram', () => telegram.sent().find((c) => c.params.text === 'pong'));
    expect(sent.method).toBe('sendMessage');
    expect(sent.params.chat_id).toBe('42');
  });

  it('answers /ping with pong on discord, in the guild channel, quoting the message', async () => {
    const d = guildMessage(discord, '/ping');
    discord.gateway.push('MESSAGE_CREATE', d);
    const sent = await until('pong at the fake Discord', () => discord.sent.find((s) => s.body.message_reference?.message_id === d.id));
    expect(sent.channelId).toBe(d.channel_id);
    expect(sent.body.content).toBe('pong');
  });

  it('answers /ping with pong on qq, as a passive reply in the group', async () => {
    const event = groupAt('/ping');
    const res = await qq.deliver(hook('qq'), event);
    expect(res.status).toBe(200);
    const sent = await until('pong at the fake QQ', () => qq.sent.find((s) => s.body.msg_id === event.d.id));
    expect(sent).toMatchObject({ scene: 'group', target: event.d.group_openid, body: { content: 'pong', msg_id: event.d.id } });
  });

  it('answers /ping with pong on lark, as a reply to the message', async () => {
    const event = textEvent(lark, '/ping');
    const res = await lark.deliver(hook('lark'), event);
    expect(res.status).toBe(200);
    const sent = await until('pong at the fake Lark', () => lark.sent.find((s) => s.target === event.event.message.message_id));
    expect(sent).toMatchObject({ kind: 'reply', msgType: 'text', content: { text: 'pong' } });
  });

  it('answers "@RobotA /ping" with pong on wecom, through the robot webhook to the right chat', async () => {
    const res = await wecom.deliver(hook('wecom'), robotText(wecom.webhookUrl, '@RobotA /ping', { chatId: 'wrkAllGroup' }), { receiveId: '' });
    expect(res.status).toBe(200);
    const sent = await until('pong at the fake WeCom', () => wecom.sent.find((s) => s.body.chatid === 'wrkAllGroup'));
    expect(sent).toEqual({ via: 'webhook/send', body: { chatid: 'wrkAllGroup', msgtype: 'text', text: { content: 'pong' } } });
  });

  it('answers /ping with pong on vk, to the peer who wrote', async () => {
    const res = await vk.deliver(hook('vk'), messageNew(community, '/ping', { fromId: 7001 }));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    const sent = await until('pong at the fake VK', () => vk.sent.find((s) => s.peerId === 7001));
    expect(sent.groupId).toBe(community.groupId);
    expect(sent.params.message).toBe('pong');
  });

  it('answers a C2C /ping with pong on tencent-im, as the bot account to the sender', async () => {
    const res = await tim.callback(hook('tim'), 'C2C.CallbackAfterSendMsg', timC2c('alice', tim.bot, [timText('/ping')]));
    expect(res.status).toBe(200);
    const sent = await until('pong at the fake Tencent IM', () => tim.sent.find((s) => s.kind === 'c2c' && s.to === 'alice'));
    expect(sent.body).toMatchObject({ From_Account: tim.bot, To_Account: 'alice', MsgBody: [timText('pong')] });
  });

  it('answers /ping with pong on the http endpoint, in the response', async () => {
    const res = await fetch(`${url}/api/plug/v1/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ msg_id: 'all-ping', type: 'text', query: '/ping', sender_id: 'u-all', sender_nickname: 'Una' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { code: number; msg_id: string; data: { type: string; content: string }[] };
    expect(body).toMatchObject({ code: 0, msg_id: 'all-ping' });
    expect(body.data.map((d) => [d.type, d.content])).toEqual([['text', 'pong']]);
  });

  it('answers /ping with pong on the sandbox, shown in the chat history', async () => {
    const api = `${url}/sandbox/sandbox/api`;
    const posted = await fetch(`${api}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { id: 'ann', name: 'Ann' }, chat: { id: 'dm:ann', type: 'direct' }, text: '/ping' }) });
    expect(posted.status).toBe(202);
    const replies = await until('pong in the sandbox chat', async () => {
      const { messages } = (await (await fetch(`${api}/chats/dm:ann/messages`)).json()) as { messages: { from: { isBot: boolean }; segments: unknown[] }[] };
      const bot = messages.filter((m) => m.from.isBot);
      return bot.length > 0 && bot;
    });
    expect(replies.map((m) => m.segments)).toEqual([[{ type: 'text', text: 'pong' }]]);
  });

  it('echoes plain text on telegram (a DM of another user), discord (a DM), tencent-im (a group @-message) and vk, each to its own chat', async () => {
    telegram.pushMessage({ text: 'hello from telegram', chat: { id: 77, type: 'private', first_name: 'Bob' }, from: { id: 77, is_bot: false, first_name: 'Bob' } });
    const dm = directMessage(discord, 'hello from discord');
    discord.gateway.push('MESSAGE_CREATE', dm);
    await tim.callback(hook('tim'), 'Group.CallbackAfterSendMsg', timGroup('@TGS#allgroup', 'carol', [timText('@Bot hello from tencent-im')], { GroupAtInfo: [{ GroupAtAllFlag: 0, GroupAt_Account: tim.bot }] }));
    await vk.deliver(hook('vk'), messageNew(community, 'hello from vk', { fromId: 7002 }));

    const tg = await until('the echo at the fake Telegram', () => telegram.sent().find((c) => c.params.text === 'hello from telegram'));
    expect(tg.params.chat_id).toBe('77');
    const dc = await until('the echo at the fake Discord', () => discord.sent.find((s) => s.body.message_reference?.message_id === dm.id));
    expect([dc.channelId, dc.body.content]).toEqual([dm.channel_id, 'hello from discord']);
    const group = await until('the echo at the fake Tencent IM', () => tim.sent.find((s) => s.kind === 'group'));
    expect([group.to, group.body.MsgBody]).toEqual(['@TGS#allgroup', [timText('hello from tencent-im')]]);
    const v = await until('the echo at the fake VK', () => vk.sent.find((s) => s.peerId === 7002));
    expect(v.params.message).toBe('hello from vk');
  });

  it('sent nothing else: one answer per message, none to a wrong platform or chat', () => {
    expect(telegram.sent().map((c) => [c.params.chat_id, c.params.text])).toEqual([
      ['42', 'pong'],
      ['77', 'hello from telegram'],
    ]);
    expect(discord.sent.map((s) => s.body.content)).toEqual(['pong', 'hello from discord']);
    expect(qq.sent.map((s) => s.body.content)).toEqual(['pong']);
    expect(lark.sent.map((s) => s.content)).toEqual([{ text: 'pong' }]);
    expect(wecom.sent.map((s) => s.body.text?.content)).toEqual(['pong']);
    expect(vk.sent.map((s) => [s.peerId, s.params.message])).toEqual([
      [7001, 'pong'],
      [7002, 'hello from vk'],
    ]);
    expect(tim.sent.map((s) => [s.to, s.body.MsgBody])).toEqual([
      ['alice', [timText('pong')]],
      ['@TGS#allgroup', [timText('hello from tencent-im')]],
    ]);
  });

  it('gives the onMessage callback the config `switchboard check` prints, every secret masked (VK\'s confirmation string too)', async () => {
    const received = callbacks.received.filter((r) => r.stage === 'onMessage');
    expect(received.length).toBeGreaterThanOrEqual(ids.length);
    for (const callback of received) for (const secret of secrets()) expect(callback.raw).not.toContain(secret);
    const config = received[0]!.body.config as { platforms: { id: string; communities?: object[] }[] };
    expect(config.platforms.find((p) => p.id === 'vk')!.communities).toEqual([expect.objectContaining({ groupId: community.groupId, token: masked, confirmation: masked, secret: masked })]);
    let printed = '';
    const log = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void (printed += `${String(line)}\n`));
    try {
      expect(await main(['check', '--config', configFile])).toBe(0);
    } finally {
      log.mockRestore();
    }
    expect(config).toEqual(parse(printed));
  });

  it('stops on SIGTERM and exits 0', async () => {
    expect(child).toBeDefined();
    child!.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 10_000))]);
    expect(code, output.slice(-4000)).toBe(0);
    expect(output).toContain('stopping: finishing in-flight messages');
    expect(output).toContain('switchboard stopped');
    // nine platforms' credentials went through one process and one log: none of them is in it
    for (const secret of secrets()) expect(output).not.toContain(secret);
  });
});

/** Every credential the config above holds. */
function secrets(): string[] {
  return [telegram.token.split(':')[1]!, discordToken, qq.appSecret, lark.appSecret, lark.verificationToken, lark.encryptKey!, wecom.token, wecom.encodingAESKey, community.token, community.confirmation, community.secret, tim.secretKey, tim.callbackToken, apiKey, callbackSecret];
}
