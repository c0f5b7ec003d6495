// WeCom end to end: encrypted, signed callbacks in (as the fake WeCom sends them) -> the echo bot
// -> the replies that reached the fake's robot webhook or app API; every way a callback can be
// forged; callbacks delivered again after a restart; tokens expiring mid-run; WeCom's rate limit
// waited out by the core and a burst paced to it; a lifecycle callback blocking a user.

import { XMLParser } from 'fast-xml-parser';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WecomAdapter, type WecomTimings } from '../adapters/wecom/index.js';
import { wecomConfig } from '../adapters/wecom/schema.js';
import { defineAdapter, type AdapterDefinition } from '../src/adapter.js';
import { defineBot, type Bot } from '../src/bot/bot.js';
import { definitions } from '../src/runtime/registry.js';
import type { Message } from '../src/message.js';
import type { Runtime } from '../src/runtime/runtime.js';
import echo from '../bots/echo.js';
import { appImage, appText, FakeWecom, robotEvent, robotImage, robotMixed, robotText, wxEncrypt, wxSign } from './fakes/wecom.js';
import { recordingBot, sleep, startRuntime, tempStorePath, waitFor } from './helpers.js';

const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ee9c8a9b0000000049454e44ae426082', 'hex');

// WeCom's 60 s block after a 45009, shortened so a test sees the core wait it out in milliseconds.
const fastBlock = 50;
const withTimings = (timings: WecomTimings) => [
  ...definitions.filter((d) => d.type !== 'wecom'),
  defineAdapter({ type: 'wecom', configSchema: wecomConfig, create: (config) => new WecomAdapter(config, timings) }) as unknown as AdapterDefinition,
];
/** The core's delivery policy, shortened: four tries within milliseconds, then a dead letter. */
const fastDelivery = 'delivery:\n  attempts: 4\n  initialDelay: 10ms\n  maxDelay: 50ms\n';

let runtime: Runtime | undefined;
let fake: FakeWecom | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  runtime = fake = undefined;
});

/** `storePath`: the store file, for a test that restarts Switchboard on it (restart()). */
async function start(kind: 'robot' | 'app', options: { bot?: Bot; yaml?: string; extra?: string; timings?: WecomTimings; storePath?: string } = {}) {
  const f = (fake = await new FakeWecom().start());
  const keys = `token: "${f.token}", encodingAESKey: "${f.encodingAESKey}", apiRoot: "${f.url}"`;
  const entry = kind === 'robot' ? `{ id: wecom, type: wecom, kind: robot, ${keys}, name: RobotA${options.extra ?? ''} }` : `{ id: wecom, type: wecom, kind: app, ${keys}, corpId: "${f.corpId}", corpSecret: "${f.corpSecret}", agentId: ${f.agentId}${options.extra ?? ''} }`;
  const yaml = `${fastDelivery}${options.yaml ?? ''}platforms:\n  - ${entry}`;
  // A robot callback seals an empty receive id (WeCom: "receiveid直接传空字符串"); an app's seals the corp id.
  const receiveId = kind === 'robot' ? '' : f.corpId;
  const boot = async () => {
    const started = await startRuntime(yaml, { bot: options.bot ?? echo, definitions: withTimings(options.timings ?? { rateLimitBlockMs: fastBlock }), storePath: options.storePath });
    runtime = started.runtime;
    const hook = `${started.url}/webhooks/wecom`;
    return {
      fake: f,
      logs: started.logs,
      url: started.url,
      adapter: started.runtime.adapters.get('wecom')!,
      deliver: (xml: string, opts: Parameters<FakeWecom['deliver']>[2] = {}) => f.deliver(hook, xml, { receiveId, ...opts }),
      verifyUrl: (echostr: string, opts: Parameters<FakeWecom['verifyUrl']>[2] = {}) => f.verifyUrl(hook, echostr, { receiveId, ...opts }),
    };
  };
  const first = await boot();
  /** Stops Switchboard and starts it again on the same store file, against the same fake WeCom. */
  const restart = async () => {
    await runtime?.stop();
    return boot();
  };
  return { ...first, receiveId, restart };
}

const sentCount = (f: FakeWecom, n: number) => waitFor(() => f.sent.length >= n && f.sent, 4000, `${n} messages at the fake`);

const controlText = 'control message';
/**
 * Sends one ordinary message after those under test and waits for its answer: one of them wrongly
 * taken would have been handled first (a chat's messages are handled in order). Returns what the
 * fake received apart from that answer.
 */
async function sentBeforeControl(f: FakeWecom, deliver: (xml: string) => Promise<Response>, kind: 'robot' | 'app'): Promise<FakeWecom['sent']> {
  const xml = kind === 'robot' ? robotText(f.webhookUrl, `@RobotA /echo ${controlText}`) : appText(f, controlText);
  expect((await deliver(xml)).status).toBe(200);
  const isControl = (s: FakeWecom['sent'][number]) => s.body.text?.content === controlText;
  await waitFor(() => f.sent.some(isControl), 4000, 'the control message answered');
  return f.sent.filter((s) => !isControl(s));
}

describe('wecom: the callback URL check (GET)', () => {
  it('answers a robot\'s check with the decrypted echostr, as plain text', async () => {
    const { verifyUrl } = await start('robot');
    const res = await verifyUrl('1616140317555161061');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('1616140317555161061');
  });

  it('answers an app\'s check only when the echostr was sealed for its corp id', async () => {
    const { verifyUrl } = await start('app');
    const ok = await verifyUrl('echo-8812');
    expect([ok.status, await ok.text()]).toEqual([200, 'echo-8812']);
    expect((await verifyUrl('echo-8812', { receiveId: 'wwSomeOtherCorp' })).status).toBe(401);
    expect((await verifyUrl('echo-8812', { signature: 'f'.repeat(40) })).status).toBe(401);
  });

  it('reads an echostr whose "+" arrived unencoded (decoded to a space by the query parser)', async () => {
    const { fake, url } = await start('app');
    let encrypted = '';
    while (!encrypted.includes('+')) encrypted = wxEncrypt(fake.encodingAESKey, 'plus-check', fake.corpId);
    const ts = String(Math.floor(Date.now() / 1000));
    const res = await fetch(`${url}/webhooks/wecom?msg_signature=${wxSign(fake.token, ts, '7', encrypted)}&timestamp=${ts}&nonce=7&echostr=${encrypted.replace(/=/g, '%3D')}`);
    expect([res.status, await res.text()]).toEqual([200, 'plus-check']);
  });
});

describe('wecom robot: messages', () => {
  it('echoes "@RobotA /ping" in a group through the WebhookUrl, to the right chatid, and answers WeCom with an empty 200', async () => {
    const { fake, deliver } = await start('robot');
    const res = await deliver(robotText(fake.webhookUrl, '@RobotA /ping', { chatId: 'wrkGroupA' }));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    const [sent] = await sentCount(fake, 1);
    expect(sent).toEqual({ via: 'webhook/send', body: { chatid: 'wrkGroupA', msgtype: 'text', text: { content: 'pong' } } });
  });

  it('normalizes a group message: the @RobotA address stripped, author from From, the key masked in raw', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await start('robot', { bot: recordingBot(seen) });
    await deliver(robotText(fake.webhookUrl, '@RobotA hello there', { chatId: 'wrkGroupB', userId: 'wangwu', name: '王五' }));
    const [sent] = await sentCount(fake, 1);
    expect(sent!.body).toEqual({ chatid: 'wrkGroupB', msgtype: 'text', text: { content: 'hello there' } });
    expect(seen[0]).toMatchObject({ platform: 'wecom', text: 'hello there', mentionsBot: true, channel: { id: 'wrkGroupB', type: 'group' }, author: { id: 'wangwu', name: '王五', username: 'jackzhang', isBot: false } });
    expect(JSON.stringify(seen[0]!.raw)).not.toContain(fake.robotKey);
    expect((seen[0]!.raw as { WebhookUrl: string }).WebhookUrl).toMatch(/key=\*+$/);
  });

  it('echoes an image sent in a single chat back as base64 + md5 of the same bytes', async () => {
    const { fake, deliver } = await start('robot');
    const imageUrl = fake.addImage('cat.png', png, 'image/png');
    await deliver(robotImage(fake.webhookUrl, imageUrl, { chatId: 'wokSingle1' }));
    const [sent] = await sentCount(fake, 1);
    expect(sent!.body.chatid).toBe('wokSingle1');
    expect(sent!.body.msgtype).toBe('image');
    expect(Buffer.from(sent!.body.image.base64, 'base64').equals(png)).toBe(true);
  });

  it('reads a mixed (text + image) message in order', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await start('robot', { bot: recordingBot(seen) });
    const imageUrl = fake.addImage('m.png', png, 'image/png');
    await deliver(robotMixed(fake.webhookUrl, '@RobotA 这是今日的测试情况', imageUrl));
    await waitFor(() => seen.length === 1);
    expect(seen[0]!.content.map((s) => s.type)).toEqual(['text', 'image']);
    expect(seen[0]!.text).toBe('这是今日的测试情况');
    const image = seen[0]!.content[1] as { url: string };
    expect(Buffer.from(await (await fetch(image.url)).arrayBuffer()).equals(png)).toBe(true);
  });

  it('sends a mention as markdown <@userid> and a file through upload_media then media_id', async () => {
    const bot = defineBot((b) =>
      b.on('message', (ctx) => ctx.reply([{ type: 'text', text: 'report for ' }, { type: 'mention', userId: ctx.message.author.id }, { type: 'file', data: Buffer.from('a,b\n1,2\n'), mime: 'text/csv', name: 'r.csv' }])),
    );
    const { fake, deliver } = await start('robot', { bot });
    await deliver(robotText(fake.webhookUrl, '@RobotA report', { chatId: 'wrkG', userId: 'zhaoliu' }));
    const sent = await sentCount(fake, 2);
    expect(sent[0]!.body).toEqual({ chatid: 'wrkG', msgtype: 'markdown', markdown: { content: 'report for <@zhaoliu>' } });
    expect(fake.uploads).toHaveLength(1);
    expect(fake.uploads[0]).toMatchObject({ via: 'robot', type: 'file', name: 'r.csv', mime: 'text/csv' });
    expect(fake.uploads[0]!.data.toString()).toBe('a,b\n1,2\n');
    expect(sent[1]!.body).toEqual({ chatid: 'wrkG', msgtype: 'file', file: { media_id: fake.uploads[0]!.mediaId } });
  });

  it('remembers each chat\'s reply URL, so a later ctx.send reaches a known chat (even one only seen in an event), and says why it cannot reach an unknown one', async () => {
    const { fake, deliver, adapter } = await start('robot');
    expect((await deliver(robotEvent(fake.webhookUrl, 'add_to_chat', { chatId: 'wrkNewGroup' }))).status).toBe(200);
    const known = await adapter.send({ to: { botId: 'wecom', channelId: 'wrkNewGroup' }, content: [{ type: 'text', text: 'hello, group' }] });
    expect(known.ok).toBe(true);
    expect(fake.sent.map((s) => s.body)).toEqual([{ chatid: 'wrkNewGroup', msgtype: 'text', text: { content: 'hello, group' } }]);
    const unknown = await adapter.send({ to: { botId: 'wecom', channelId: 'wrkNeverSeen' }, content: [{ type: 'text', text: 'x' }] });
    expect(unknown).toMatchObject({ ok: false, error: expect.stringMatching(/no reply URL known for WeCom chat "wrkNeverSeen"/) });
  });

  it('never POSTs to a WebhookUrl outside apiRoot\'s /cgi-bin/webhook/send, even in a validly signed callback', async () => {
    const elsewhere = await new FakeWecom().start();
    try {
      const { fake, deliver, logs } = await start('robot');
      const planted = `${elsewhere.url}/cgi-bin/webhook/send?key=${elsewhere.robotKey}`;
      const underRoot = `${fake.url}/internal/cgi-bin/webhook/send?key=${fake.robotKey}`;
      expect((await deliver(robotText(planted, '@RobotA /ping', { chatId: 'wrkPlanted' }))).status).toBe(200);
      expect((await deliver(robotText(underRoot, '@RobotA /ping', { chatId: 'wrkPath' }))).status).toBe(200);
      await waitFor(() => logs.filter((l) => l.msg === 'delivery failed').length === 2, 4000, 'two failed deliveries');
      expect(elsewhere.sent).toEqual([]);
      expect(fake.sent).toEqual([]);
      expect(logs.filter((l) => /WebhookUrl that is not/.test(l.msg)).map((l) => l.chat)).toEqual(['wrkPlanted', 'wrkPath']);
      expect(JSON.stringify(logs)).not.toContain(elsewhere.robotKey);
    } finally {
      await elsewhere.stop();
    }
  });

  it('reads at most 1 MB of an answer from WeCom: a larger one fails the delivery instead of filling memory', async () => {
    const { fake, deliver, logs } = await start('robot');
    fake.answerPadding = 3 * 1024 * 1024;
    await deliver(robotText(fake.webhookUrl, '@RobotA /ping'));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'), 4000, 'a failed delivery');
    expect(line.err).toMatch(/WeCom webhook\/send answered more than 1048576 bytes/);
  });

  it('says WeCom is unreachable without the reply URL (and its key) in the delivery error', async () => {
    const { fake, deliver, adapter } = await start('robot');
    await deliver(robotEvent(fake.webhookUrl, 'add_to_chat', { chatId: 'wrkGone' }));
    await fake.stop();
    const delivery = await adapter.send({ to: { botId: 'wecom', channelId: 'wrkGone' }, content: [{ type: 'text', text: 'x' }] });
    expect(delivery).toMatchObject({ ok: false, error: expect.stringMatching(/^WeCom webhook\/send unreachable/) });
    expect(delivery.error).not.toContain(fake.robotKey);
  });

  it('handles a retried callback (same MsgId, new nonce and timestamp) once', async () => {
    const { fake, deliver } = await start('robot');
    const xml = robotText(fake.webhookUrl, '@RobotA /ping', { msgId: 'CAIQretried1' });
    expect((await deliver(xml)).status).toBe(200);
    expect((await deliver(xml, { nonce: '99', timestamp: Math.floor(Date.now() / 1000) - 3 })).status).toBe(200);
    await sentCount(fake, 1);
    expect(await sentBeforeControl(fake, deliver, 'robot')).toHaveLength(1);
  });

  it('splits a long Chinese reply so every text message stays within 2048 bytes', async () => {
    const { fake, deliver } = await start('robot');
    const long = '企业微信机器人回复测试。'.repeat(200); // 7200 bytes
    await deliver(robotText(fake.webhookUrl, `@RobotA ${long}`));
    // Every part arrives, in order, before the whole is compared (a busy machine may deliver slowly).
    const sent = await waitFor(() => fake.sent.map((m) => m.body.text.content).join('').length >= long.length && fake.sent, 10_000, 'every part of the reply');
    expect(sent.length).toBeGreaterThanOrEqual(4);
    expect(sent.map((s) => s.body.text.content).join('')).toBe(long);
    expect(sent.every((s) => Buffer.byteLength(s.body.text.content) <= 2048)).toBe(true);
  });

  it('never puts the robot key in a log line or a callback payload', async () => {
    const { CallbackServer } = await import('./fakes/callback-server.js');
    const hooks = await new CallbackServer().start();
    try {
      const { fake, deliver, logs } = await start('robot', { yaml: `callbacks:\n  onMessage: ${hooks.url}/onMessage\n  onSent: ${hooks.url}/onSent\n` });
      await deliver(robotText(fake.webhookUrl, '@RobotA /ping'));
      await sentCount(fake, 1);
      await waitFor(() => hooks.stages().includes('onSent'));
      expect(hooks.received.some((r) => r.raw.includes(fake.robotKey))).toBe(false);
      expect(JSON.stringify(logs)).not.toContain(fake.robotKey);
      expect(JSON.stringify(logs)).not.toContain(fake.encodingAESKey);
    } finally {
      await hooks.stop();
    }
  });
});

describe('wecom app: messages', () => {
  it('echoes a user\'s text through message/send with the agent id, using the token from gettoken', async () => {
    const { fake, deliver } = await start('app');
    const res = await deliver(appText(fake, '/echo 你好，世界', { user: 'lisi' }));
    expect([res.status, await res.text()]).toEqual([200, '']);
    const [sent] = await sentCount(fake, 1);
    expect(sent).toEqual({ via: 'message/send', body: { touser: 'lisi', agentid: fake.agentId, msgtype: 'text', text: { content: '你好，世界' } } });
    expect(fake.calls.at(-1)!.token).toMatch(/^AT_/);
    expect(fake.tokenRequests).toBe(1);
  });

  it('echoes a user\'s image by its media_id without downloading it (bytes come only when a handler asks)', async () => {
    const { fake, deliver } = await start('app');
    const mediaId = fake.addMedia(png, 'image/png', 'photo.png');
    await deliver(appImage(fake, mediaId, { user: 'lisi' }));
    const [sent] = await sentCount(fake, 1);
    expect(sent!.body).toEqual({ touser: 'lisi', agentid: fake.agentId, msgtype: 'image', image: { media_id: mediaId } });
    expect(fake.mediaGets).toEqual([]);
    expect(fake.uploads).toEqual([]);
  });

  it('fetches an inbound image through media/get when a handler downloads it, and uploads bytes the bot made', async () => {
    const bot = defineBot((b) =>
      b.on('message', async (ctx) => {
        const image = ctx.message.content.find((s) => s.type === 'image');
        if (!image || image.type !== 'image') return;
        const body = await ctx.download(image);
        ctx.reply([{ type: 'text', text: `got ${body.data.length} bytes` }, { type: 'image', data: body.data, mime: 'image/png' }]);
      }),
    );
    const { fake, deliver } = await start('app', { bot });
    const mediaId = fake.addMedia(png, 'image/png', 'photo.png');
    await waitFor(() => fake.tokenRequests === 1); // the token fetched at start…
    fake.expireTokens(); // …has expired by the time the handler downloads
    await deliver(appImage(fake, mediaId));
    const sent = await sentCount(fake, 2);
    expect(fake.mediaGets).toEqual([mediaId]);
    expect(fake.calls.filter((c) => c.path === '/cgi-bin/media/get').map((c) => c.errcode)).toEqual([42001, 0]);
    expect(sent[0]!.body.text).toEqual({ content: `got ${png.length} bytes` });
    expect(fake.uploads).toHaveLength(1);
    expect(fake.uploads[0]).toMatchObject({ via: 'app', type: 'image', mime: 'image/png' });
    expect(fake.uploads[0]!.data.equals(png)).toBe(true);
    expect(sent[1]!.body).toEqual({ touser: 'lisi', agentid: fake.agentId, msgtype: 'image', image: { media_id: fake.uploads[0]!.mediaId } });
  });

  it('normalizes voice, video, file and link messages from a user', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await start('app', { bot: recordingBot(seen) });
    const head = (type: string, id: string) => `<xml><ToUserName><![CDATA[${fake.corpId}]]></ToUserName><FromUserName><![CDATA[wangwu]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[${type}]]></MsgType><MsgId>${id}</MsgId><AgentID>${fake.agentId}</AgentID>`;
    await deliver(`${head('voice', '9001')}<MediaId><![CDATA[V1]]></MediaId><Format><![CDATA[amr]]></Format></xml>`);
    await deliver(`${head('video', '9002')}<MediaId><![CDATA[M1]]></MediaId><ThumbMediaId><![CDATA[T1]]></ThumbMediaId></xml>`);
    await deliver(`${head('file', '9003')}<MediaId><![CDATA[F1]]></MediaId><FileName><![CDATA[季度报告.pdf]]></FileName></xml>`);
    await deliver(`${head('link', '9004')}<Title><![CDATA[WeCom docs]]></Title><Url><![CDATA[https://developer.work.weixin.qq.com/]]></Url></xml>`);
    await waitFor(() => seen.length === 4);
    expect(seen.map((m) => m.content.map((c) => ('mime' in c ? [c.type, c.mime, c.name] : c)))).toEqual([
      [['audio', 'audio/amr', undefined]],
      [['video', 'video/mp4', undefined]],
      [['file', 'application/octet-stream', '季度报告.pdf']],
      [{ type: 'link', url: 'https://developer.work.weixin.qq.com/', text: 'WeCom docs' }],
    ]);
    expect(seen[0]).toMatchObject({ id: '9001', channel: { id: 'user:wangwu', type: 'direct' }, author: { id: 'wangwu' }, timestamp: 1_700_000_000_000 });
  });

  it('sends to an app chat through appchat/send', async () => {
    const { fake, adapter } = await start('app');
    const delivery = await adapter.send({ to: { botId: 'wecom', channelId: 'chat:wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA' }, content: [{ type: 'text', text: 'standup in 5' }, { type: 'image', data: png, mime: 'image/png' }] });
    expect(delivery.ok).toBe(true);
    expect(fake.sent.map((s) => [s.via, s.body])).toEqual([
      ['appchat/send', { chatid: 'wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA', msgtype: 'text', text: { content: 'standup in 5' } }],
      ['appchat/send', { chatid: 'wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA', msgtype: 'image', image: { media_id: fake.uploads[0]!.mediaId } }],
    ]);
    const bad = await adapter.send({ to: { botId: 'wecom', channelId: 'lisi' }, content: [{ type: 'text', text: 'x' }] });
    expect(bad.error).toMatch(/expected user:<userid> or chat:<chatid>/);
  });

  it('fetches a new token when WeCom says the old one expired (42001), and the reply arrives once', async () => {
    const { fake, deliver } = await start('app');
    await deliver(appText(fake, 'first'));
    await sentCount(fake, 1);
    const firstToken = fake.calls.at(-1)!.token;
    fake.expireTokens();
    await deliver(appText(fake, 'second'));
    await sentCount(fake, 2);
    await sleep(50);
    expect(fake.sent.map((s) => s.body.text.content)).toEqual(['first', 'second']);
    expect(fake.calls.filter((c) => c.errcode === 42001).map((c) => c.token)).toEqual([firstToken]);
    expect(fake.calls.at(-1)).toMatchObject({ errcode: 0 });
    expect(fake.calls.at(-1)!.token).not.toBe(firstToken);
    expect(fake.tokenRequests).toBe(2);
  });

  it('refreshes an expired token once however many replies find it expired at the same moment', async () => {
    const { fake, deliver } = await start('app');
    await waitFor(() => fake.tokenRequests === 1);
    fake.expireTokens();
    await Promise.all(Array.from({ length: 6 }, (_, i) => deliver(appText(fake, `n${i}`, { user: `u${i}` }))));
    await sentCount(fake, 6);
    await sleep(50);
    expect(fake.tokenRequests).toBe(2);
    expect(fake.sent.map((s) => s.body.touser).sort()).toEqual(['u0', 'u1', 'u2', 'u3', 'u4', 'u5']);
    expect(fake.calls.some((c) => c.errcode === 42001)).toBe(true);
  });

  it('keeps a reply as a dead letter after one refresh when gettoken refuses the secret (rotated), saying to check it', async () => {
    const { fake, deliver, logs } = await start('app');
    await waitFor(() => fake.tokenRequests === 1);
    const configured = fake.corpSecret;
    fake.corpSecret = 'rotated-in-the-admin-console';
    fake.expireTokens();
    await deliver(appText(fake, '/ping'));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
    expect(line).toMatchObject({ err: 'WeCom gettoken failed: invalid credential (errcode 40001); check corpId and corpSecret', deadLetter: true });
    // One send with the expired token, one refresh, refused: no retries that cannot help.
    expect(fake.calls.filter((c) => c.path === '/cgi-bin/message/send').map((c) => c.errcode)).toEqual([42001]);
    expect(fake.tokenRequests).toBe(2);
    expect(JSON.stringify(logs)).not.toContain(configured);
  });

  it('fails a direct send on a refused token as `auth`, having forgotten the token, so the next try fetches a new one', async () => {
    const { fake, adapter } = await start('app');
    await waitFor(() => fake.tokenRequests === 1);
    fake.expireTokens();
    const to = { botId: 'wecom', channelId: 'user:lisi' };
    expect(await adapter.send({ to, content: [{ type: 'text', text: 'x' }] })).toMatchObject({ ok: false, failure: { kind: 'auth' }, error: expect.stringMatching(/access_token expired \(errcode 42001\)/) });
    expect(await adapter.send({ to, content: [{ type: 'text', text: 'x' }] })).toMatchObject({ ok: true, ids: [expect.stringMatching(/^msg-/)] });
    expect(fake.tokenRequests).toBe(2);
  });

  it('reports a refused send with WeCom\'s errcode, without the access token', async () => {
    const { fake, deliver, logs } = await start('app');
    await deliver(appImage(fake, 'MEDIA_unknown'));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
    expect(line.err).toMatch(/WeCom message\/send failed: invalid media_id \(errcode 40007\)/);
    expect(JSON.stringify(logs)).not.toMatch(/AT_\d+_/);
  });
});

describe('wecom: WeCom\'s rate limit (errcode 45009) and pacing', () => {
  it.each(['robot', 'app'] as const)('sends a %s\'s reply refused with 45009 again once WeCom\'s block is over, and it arrives once', async (kind) => {
    const { fake, deliver, logs } = await start(kind);
    fake.rateLimited = 1;
    await deliver(kind === 'robot' ? robotText(fake.webhookUrl, '@RobotA /ping', { chatId: 'wrkBusy' }) : appText(fake, '/ping', { user: 'lisi' }));
    const [sent] = await sentCount(fake, 1);
    expect(fake.throttled).toEqual([kind === 'robot' ? 'webhook/send' : 'message/send']);
    expect(sent!.body.text).toEqual({ content: 'pong' });
    const [refused, taken] = fake.attempts;
    expect(taken!.at - refused!.at).toBeGreaterThanOrEqual(fastBlock);
    await sleep(50);
    expect(fake.sent).toHaveLength(1);
    expect(logs.filter((l) => l.msg === 'delivery failed')).toEqual([]);
  });

  it('keeps a reply WeCom refuses on every try as a dead letter after the delivery policy\'s attempts, with WeCom\'s errcode', async () => {
    const { fake, deliver, logs } = await start('app');
    fake.rateLimited = 10;
    await deliver(appText(fake, '/ping', { user: 'lisi' }));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'), 4000);
    expect(line).toMatchObject({ err: expect.stringMatching(/api freq out of limit \(errcode 45009\)$/), deadLetter: true });
    expect(fake.throttled).toHaveLength(4);
    expect(fake.sent).toEqual([]);
    expect((await runtime!.store.outbox.list('dead')).map((d) => d.message.to.channelId)).toEqual(['user:lisi']);
  });

  it.each(['app', 'robot'] as const)('stops waiting out WeCom\'s 60 s block at shutdown, keeps the %s\'s reply, and sends it once after the restart', async (kind) => {
    const { fake, deliver, restart } = await start(kind, { timings: {}, storePath: tempStorePath(), yaml: 'server:\n  port: 0\n  shutdownTimeout: 300ms\n' });
    fake.rateLimited = 1;
    await deliver(kind === 'app' ? appText(fake, '/ping', { user: 'lisi' }) : robotText(fake.webhookUrl, '@RobotA /ping', { chatId: 'wrkLater' }));
    await waitFor(() => fake.throttled.length === 1);
    const stopping = Date.now();
    await restart();
    expect(Date.now() - stopping).toBeLessThan(3000);
    // A robot's reply goes to the URL of the chat's last callback, kept in the store: no callback came since.
    const [sent] = await sentCount(fake, 1);
    expect(sent!.body).toMatchObject(kind === 'app' ? { touser: 'lisi', text: { content: 'pong' } } : { chatid: 'wrkLater', text: { content: 'pong' } });
    await sleep(100);
    expect(fake.sent).toHaveLength(1);
  });

  it('paces a burst to the robot\'s 20 a minute: five go at once, the sixth waits its turn, and WeCom never answers 45009', async () => {
    const bot = defineBot((b) => b.on('message', (ctx) => void Array.from({ length: 6 }, (_, i) => ctx.reply(`part ${i + 1}`, { quote: false }))));
    // Shutdown does not wait the sixth out: it stays in the outbox.
    const { fake, deliver } = await start('robot', { bot, yaml: 'server:\n  port: 0\n  shutdownTimeout: 100ms\n' });
    await deliver(robotText(fake.webhookUrl, '@RobotA go'));
    await sentCount(fake, 5);
    await sleep(1000);
    expect(fake.sent.map((s) => s.body.text.content)).toEqual(['part 1', 'part 2', 'part 3', 'part 4', 'part 5']);
    expect(fake.attempts.filter((a) => a.errcode !== 0)).toEqual([]);
  });
});

describe('wecom: a callback WeCom delivers again after a restart', () => {
  it.each(['app', 'robot'] as const)('is handled once (%s): the same encrypted callback before and after, answered 200 both times, one reply', async (kind) => {
    const { fake, deliver, receiveId, restart } = await start(kind, { storePath: tempStorePath() });
    const xml = kind === 'app' ? appText(fake, '/ping', { msgId: '4561255354251345001' }) : robotText(fake.webhookUrl, '@RobotA /ping', { msgId: 'CAIQrestart1' });
    // The very request WeCom sends again: same ciphertext, signature, timestamp and nonce.
    const sealed = { encrypted: wxEncrypt(fake.encodingAESKey, xml, receiveId), timestamp: Math.floor(Date.now() / 1000), nonce: '1234567' };
    expect((await deliver(xml, sealed)).status).toBe(200);
    await sentCount(fake, 1);
    const after = await restart();
    const again = await after.deliver(xml, sealed);
    expect([again.status, await again.text()]).toEqual([200, '']);
    // The control: a new message after the restart is answered, so the redelivery had its turn.
    await after.deliver(kind === 'app' ? appText(fake, '/echo after') : robotText(fake.webhookUrl, '@RobotA /echo after'));
    await sentCount(fake, 2);
    await sleep(100);
    expect(fake.sent.map((s) => s.body.text.content)).toEqual(['pong', 'after']);
  });
});

describe('wecom: through a proxy', () => {
  it('sends token, API and media traffic through the configured proxy, its password kept out of the logs', async () => {
    const { FakeProxy } = await import('./fakes/proxy.js');
    const proxy = await new FakeProxy({ user: 'op', password: 'pr0xy-pass' }).start();
    try {
      const { fake, deliver, logs } = await start('app', { extra: `, proxy: "${proxy.url}"` });
      await deliver(appImage(fake, fake.addMedia(png, 'image/png', 'p.png')));
      await deliver(appText(fake, 'via proxy'));
      await sentCount(fake, 2);
      expect(proxy.tunnels.length).toBeGreaterThan(0);
      expect(proxy.tunnels.every((t) => t.target === new URL(fake.url).host)).toBe(true);
      expect(logs.find((l) => l.msg === 'WeCom traffic goes through a proxy')!.proxy).not.toContain('pr0xy-pass');
      expect(JSON.stringify(logs)).not.toContain('pr0xy-pass');
    } finally {
      await proxy.stop();
    }
  });
});

describe('wecom: refused callbacks', () => {
  it('answers 401 to a wrong, missing or wrong-token signature, a stale or future timestamp, or another receive id, and processes none', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await start('app', { bot: recordingBot(seen) });
    const xml = appText(fake, '/ping');
    const now = Math.floor(Date.now() / 1000);
    const answers = [
      await deliver(xml, { signature: 'a'.repeat(40) }),
      await deliver(xml, { token: 'notTheToken' }),
      await deliver(xml, { timestamp: now - 360 }),
      await deliver(xml, { timestamp: now + 360 }),
      await deliver(xml, { receiveId: 'wwAnotherCorp' }),
      // Signed with our token but sealed with another key: it decrypts to garbage, a bad padding
      // (acknowledged, as for any signed callback that cannot be read) or a wrong receive id (401).
      await deliver(xml, { encodingAESKey: 'B'.repeat(43) }),
    ];
    expect(answers.slice(0, 5).map((r) => r.status)).toEqual([401, 401, 401, 401, 401]);
    expect([200, 401]).toContain(answers[5]!.status);
    expect(await answers[2]!.json()).toEqual({ error: 'callback refused: timestamp is outside the replay window (stale or replayed request)' });
    expect(await answers[4]!.json()).toEqual({ error: 'callback refused: the receive id in the message does not match corpId' });
    expect(await sentBeforeControl(fake, deliver, 'app')).toEqual([]);
    expect(seen.filter((m) => m.text !== controlText)).toEqual([]);
  });

  it('answers 400 to missing parameters or a body that is not the XML envelope (one Encrypt in <xml>), and 413 to an oversized body', async () => {
    const { fake, deliver, url } = await start('robot');
    const hook = `${url}/webhooks/wecom`;
    expect((await fetch(hook, { method: 'POST', body: '<xml><Encrypt>abc</Encrypt></xml>' })).status).toBe(400);
    const x = robotText(fake.webhookUrl, 'x');
    const encrypted = wxEncrypt(fake.encodingAESKey, x, '');
    const envelopes = ['{"encrypt": "json?"}', '<xml><Encrypt>unclosed', `<xml><Encrypt>${encrypted}</Encrypt><Encrypt>${encrypted}</Encrypt></xml>`, `<Encrypt>${encrypted}</Encrypt>`, `<xml><Encrypt>${encrypted}!</Encrypt></xml>`];
    for (const rawBody of envelopes) expect((await deliver(x, { encrypted, rawBody })).status, rawBody).toBe(400);
    expect((await deliver(robotText(fake.webhookUrl, 'x'.repeat(2 * 1024 * 1024)))).status).toBe(413);
    expect((await fetch(`${hook}?msg_signature=x&timestamp=1&nonce=1`)).status).toBe(400);
    expect(await sentBeforeControl(fake, deliver, 'robot')).toEqual([]);
  });

  it('acknowledges a signed callback it cannot read (not ciphertext, not XML inside, too many elements or too deep), logged, processing none', async () => {
    // Signed with our token, so WeCom sent it: any other answer makes WeCom send it again, and it would fail again.
    const { fake, deliver, url, logs } = await start('robot');
    const hook = `${url}/webhooks/wecom`;
    const ts = String(Math.floor(Date.now() / 1000));
    const garbage = Buffer.alloc(48, 1).toString('base64');
    const seal = (xml: string) => ({ encrypted: wxEncrypt(fake.encodingAESKey, xml, '') });
    const answers = [
      await fetch(`${hook}?${new URLSearchParams({ msg_signature: wxSign(fake.token, ts, '1', garbage), timestamp: ts, nonce: '1' })}`, { method: 'POST', body: `<xml><Encrypt><![CDATA[${garbage}]]></Encrypt></xml>` }),
      await deliver('', seal('{"not": "xml"}')),
      await deliver('', seal(`<xml>${'<MsgId>1</MsgId>'.repeat(3000)}</xml>`)),
      await deliver('', seal(`<xml>${'<a>'.repeat(50)}${'</a>'.repeat(50)}</xml>`)),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(await Promise.all(answers.map((r) => r.text()))).toEqual(['', '', '', '']);
    expect(logs.filter((l) => l.level === 50 && l.platform === 'wecom').map((l) => (l.err as { message: string }).message)).toEqual([
      expect.stringMatching(/^callback refused: bad ciphertext/),
      'the decrypted message is not XML of the expected shape',
      'the decrypted message is not XML of the expected shape',
      'the decrypted message is not XML of the expected shape',
    ]);
    expect(await sentBeforeControl(fake, deliver, 'robot')).toEqual([]);
  });

  it('refuses XML that defines entities outside the ciphertext (400), acknowledges signed XML that does inside or names a prototype key, and processes none', async () => {
    const { fake, deliver, adapter } = await start('robot');
    const bomb = `<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>`;
    const inner = robotText(fake.webhookUrl, '@RobotA /ping &b;', { chatId: 'wrkEntity' });
    expect((await deliver(bomb + inner)).status).toBe(200);
    expect((await deliver(inner.replace('<MsgId>', '<__proto__><polluted>1</polluted></__proto__><MsgId>'))).status).toBe(200);
    const encrypted = wxEncrypt(fake.encodingAESKey, robotText(fake.webhookUrl, '@RobotA /ping', { chatId: 'wrkEntity' }), '');
    expect((await deliver('', { encrypted, rawBody: `${bomb}<xml><Encrypt><![CDATA[${encrypted}]]></Encrypt></xml>` })).status).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const send = await adapter.send({ to: { botId: 'wecom', channelId: 'wrkEntity' }, content: [{ type: 'text', text: 'x' }] });
    expect(send.error).toMatch(/no reply URL known/);
    expect(fake.sent).toEqual([]);
  });

  it('refuses forged 1 MB bodies with 401 on the signature alone, never parsing their XML, and still takes a genuine one', async () => {
    // Parsing a forged body before checking its signature cost 0.4-1.6 s of CPU per 1 MB body: 50
    // took 80 s on a loaded 2-core machine, and 2 s once the signature (over an Encrypt cut out
    // with string searches) came first. The bound sits far from both.
    const parse = vi.spyOn(XMLParser.prototype, 'parse');
    const { fake, deliver, url } = await start('robot');
    const hook = `${url}/webhooks/wecom`;
    const ts = String(Math.floor(Date.now() / 1000));
    const forged = `<xml>${'<a>1</a>'.repeat(130_000)}<Encrypt><![CDATA[${Buffer.alloc(48, 1).toString('base64')}]]></Encrypt></xml>`;
    expect(forged.length).toBeGreaterThan(1_000_000);
    const started = performance.now();
    const statuses: number[] = [];
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${hook}?${new URLSearchParams({ msg_signature: 'a'.repeat(40), timestamp: ts, nonce: String(i) })}`, { method: 'POST', body: forged });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    const elapsed = performance.now() - started;
    expect(new Set(statuses)).toEqual(new Set([401]));
    expect(parse).not.toHaveBeenCalled();
    expect(elapsed).toBeLessThan(12_000);
    expect((await deliver(robotText(fake.webhookUrl, '@RobotA /ping'))).status).toBe(200);
    await sentCount(fake, 1);
    expect(parse).toHaveBeenCalledTimes(1);
  });

  it('refuses a robot callback sealed with a receive id when none is configured', async () => {
    const { fake, deliver } = await start('robot');
    expect((await deliver(robotText(fake.webhookUrl, '@RobotA /ping'), { receiveId: fake.corpId })).status).toBe(401);
    expect(await sentBeforeControl(fake, deliver, 'robot')).toEqual([]);
  });

  it('takes a timestamp of any age when replayWindow is 0', async () => {
    const { fake, deliver } = await start('robot', { extra: ', replayWindow: 0' });
    expect((await deliver(robotText(fake.webhookUrl, '@RobotA /ping'), { timestamp: 1409659813 })).status).toBe(200);
    await sentCount(fake, 1);
  });
});

describe('wecom: lifecycle callbacks', () => {
  it('an onMessage 403 blocks a user: the robot sends them the text, and the bot never sees the message', async () => {
    const { CallbackServer } = await import('./fakes/callback-server.js');
    const hooks = await new CallbackServer().start();
    try {
      hooks.on('onMessage', (ctx, body) => {
        if (body.message.author.id !== 'mallory') return void (ctx.status = 204);
        ctx.status = 403;
        ctx.body = 'You are blocked.';
      });
      const { fake, deliver } = await start('robot', { yaml: `callbacks:\n  onMessage: ${hooks.url}/onMessage\n` });
      await deliver(robotText(fake.webhookUrl, '@RobotA /ping', { chatId: 'wrkG1', userId: 'mallory' }));
      await deliver(robotText(fake.webhookUrl, '@RobotA /ping', { chatId: 'wrkG2', userId: 'alice' }));
      const sent = await sentCount(fake, 2);
      expect(sent.map((s) => [s.body.chatid, s.body.text.content]).sort()).toEqual([
        ['wrkG1', 'You are blocked.'],
        ['wrkG2', 'pong'],
      ]);
      expect(hooks.received.find((r) => r.stage === 'onMessage')!.body.bot).toEqual({ id: 'wecom', type: 'wecom' });
    } finally {
      await hooks.stop();
    }
  });
});
