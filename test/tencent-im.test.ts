// Tencent Cloud IM end to end: callbacks posted as Tencent posts them (query string, Sign) ->
// pipeline -> bot -> the REST calls that reached the fake (each UserSig verified for real);
// Before* interception; platform events; and every way a callback can be wrong.

import tlsSigApi from 'tls-sig-api-v2';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineBot } from '../src/bot/bot.js';
import type { PlatformEvent } from '../src/bot/events.js';
import type { Message } from '../src/message.js';
import { CallbackServer } from './fakes/callback-server.js';
import { c2c, group, text, type FakeTencentIM } from './fakes/tencent-im.js';
import { cleanUp, okAnswer, sentCount, stopAll, tim } from './fakes/tencent-im-harness.js';
import { recordingBot, sleep, tempStorePath, waitFor, type LogLine } from './helpers.js';

const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ee9c8a9b0000000049454e44ae426082', 'hex');

afterEach(stopAll);

describe('tencent-im: messages through the example bot', () => {
  it('answers a C2C /ping through openim/sendmsg as the bot account, signed with a valid admin UserSig', async () => {
    const { fake, post } = await tim();
    const res = await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('/ping')]));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(okAnswer);
    const [sent] = await sentCount(fake, 1);
    expect(sent).toEqual({ kind: 'c2c', to: 'alice', body: { SyncOtherMachine: 1, From_Account: 'bot', To_Account: 'alice', MsgRandom: expect.any(Number), MsgBody: [text('pong')] } });
    expect(fake.calls).toEqual([{ path: 'openim/sendmsg', identifier: 'administrator', userSig: expect.any(String), code: 0 }]);
  });

  it('echoes text and /echo, and leaves C2C messages to other users and the bot\'s own alone', async () => {
    const { fake, post } = await tim();
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'carol', [text('not for the bot')]));
    await post('C2C.CallbackAfterSendMsg', c2c('bot', 'alice', [text('the bot talking')]));
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('hello there')]));
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('/echo hi')]));
    const sent = await sentCount(fake, 2);
    await sleep(100);
    expect(fake.sent.map((s) => [s.to, s.body.MsgBody])).toEqual([
      ['alice', [text('hello there')]],
      ['alice', [text('hi')]],
    ]);
    expect(sent).toHaveLength(2);
  });

  it('normalizes a group @-message (mentionsBot, the @ stripped) and replies in the group; unaddressed group chatter is not seen', async () => {
    const seen: Message[] = [];
    const { fake, post } = await tim({ bot: recordingBot(seen) });
    await post('Group.CallbackAfterSendMsg', group('@TGS#2J4SZEAEL', 'alice', [text('just chatting')]));
    const res = await post('Group.CallbackAfterSendMsg', group('@TGS#2J4SZEAEL', 'alice', [text('@Bot /ping')], { GroupAtInfo: [{ GroupAtAllFlag: 0, GroupAt_Account: 'bot' }] }));
    expect(await res.json()).toEqual(okAnswer);
    await post('Group.CallbackAfterSendMsg', group('@TGS#2J4SZEAEL', 'alice', [text('@Bot hello all')], { GroupAtInfo: [{ GroupAtAllFlag: 0, GroupAt_Account: 'bot' }] }));
    const sent = await sentCount(fake, 2);
    expect(sent.map((s) => [s.kind, s.to, s.body.From_Account, s.body.MsgBody])).toEqual([
      ['group', '@TGS#2J4SZEAEL', 'bot', [text('pong')]],
      ['group', '@TGS#2J4SZEAEL', 'bot', [text('hello all')]],
    ]);
    expect(fake.calls.every((c) => c.path === 'group_open_http_svc/send_group_msg' && c.code === 0)).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ platform: 'tencent-im', botId: 'tim', text: 'hello all', mentionsBot: true, channel: { id: 'group:@TGS#2J4SZEAEL', type: 'group' }, author: { id: 'alice', isBot: false } });
  });

  it('sees every group message with groupMessages: all, mentionsBot telling them apart', async () => {
    const seen: Message[] = [];
    const { fake, post } = await tim({ bot: recordingBot(seen), extra: ', groupMessages: all' });
    await post('Group.CallbackAfterSendMsg', group('G1', 'alice', [text('chatter')]));
    await post('Group.CallbackAfterSendMsg', group('G1', 'bob', [text('@bot hey')], { AtUserList: ['bot'] }));
    await sentCount(fake, 2);
    expect(seen.map((m) => [m.text, m.mentionsBot])).toEqual([
      ['chatter', false],
      ['hey', true],
    ]);
  });

  it('echoes an image by Tencent\'s own (largest) URL, and exposes it to the bot as a Switchboard media URL', async () => {
    const seen: Message[] = [];
    // The fake's storage host is on 127.0.0.1.
    const { fake, post, url } = await tim({ bot: defineBot((b) => b.on('message', (ctx) => (seen.push(ctx.message), ctx.reply(ctx.message.content)))), extra: ', allowPrivateNetworks: true' });
    const big = fake.addFile('big.png', png, 'image/png');
    const image = { MsgType: 'TIMImageElem', MsgContent: { UUID: 'u1', ImageFormat: 3, ImageInfoArray: [{ Type: 3, Size: 10, Width: 10, Height: 10, URL: `${fake.url}/files/thumb.png` }, { Type: 1, Size: png.length, Width: 800, Height: 600, URL: big }, { Type: 2, Size: 50, Width: 200, Height: 150, URL: `${fake.url}/files/large.png` }] } };
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [image]));
    const [sent] = await sentCount(fake, 1);
    const media = seen[0]!.content[0] as { type: string; url: string; mime: string };
    expect(media).toMatchObject({ type: 'image', mime: 'image/png' });
    expect(media.url.startsWith(`${url}/media/`)).toBe(true);
    expect(Buffer.from(await (await fetch(media.url)).arrayBuffer()).equals(png)).toBe(true);
    expect(sent!.body.MsgBody).toHaveLength(1);
    expect(sent!.body.MsgBody[0]).toMatchObject({ MsgType: 'TIMImageElem', MsgContent: { ImageFormat: 3, ImageInfoArray: [{ Type: 1, URL: big }, { Type: 2, URL: big }, { Type: 3, URL: big }] } });
  });

  it('hosts an image the bot made under a short-lived media URL the platform can fetch; buttons become numbered text', async () => {
    const bot = defineBot((b) =>
      b.on('message', (ctx) =>
        ctx.reply([
          { type: 'image', data: png, mime: 'image/png', name: 'chart.png' },
          { type: 'text', text: 'Pick one' },
          { type: 'buttons', rows: [[{ label: 'Yes', value: 'yes' }, { label: 'Docs', url: 'https://example.com/docs' }]] },
          { type: 'file', data: Buffer.from('a,b\n1,2\n'), mime: 'text/csv', name: 'data.csv' },
        ]),
      ),
    );
    const { fake, post, url } = await tim({ bot });
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('draw')]));
    const [sent] = await sentCount(fake, 1);
    const [image, caption, file] = sent!.body.MsgBody as { MsgType: string; MsgContent: Record<string, any> }[];
    expect(image!.MsgType).toBe('TIMImageElem');
    const imageUrl = image!.MsgContent.ImageInfoArray[0].URL as string;
    expect(imageUrl.startsWith(`${url}/media/`)).toBe(true);
    expect(image!.MsgContent).toMatchObject({ ImageFormat: 3, ImageInfoArray: [{ Type: 1, Size: png.length, Width: 1, Height: 1 }, {}, {}] });
    const fetched = await fetch(imageUrl);
    expect(fetched.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await fetched.arrayBuffer()).equals(png)).toBe(true);
    expect(caption).toEqual(text('Pick one\n1. Yes — send "yes"\n2. Docs (https://example.com/docs)'));
    expect(file).toMatchObject({ MsgType: 'TIMFileElem', MsgContent: { FileName: 'data.csv', FileSize: 8, Download_Flag: 2 } });
    expect(await (await fetch(file!.MsgContent.Url)).text()).toBe('a,b\n1,2\n');
  });

  it('handles a retried callback once', async () => {
    const { fake, post } = await tim();
    const event = c2c('alice', 'bot', [text('/ping')]);
    expect((await post('C2C.CallbackAfterSendMsg', event)).status).toBe(200);
    expect((await post('C2C.CallbackAfterSendMsg', event)).status).toBe(200);
    await sentCount(fake, 1);
    await sleep(200);
    expect(fake.sent).toHaveLength(1);
  });

  it('handles After* callbacks delivered again after a restart once (C2C by MsgKey, groups by GroupId + MsgSeq + Random): the dedup is in the store', async () => {
    const storePath = tempStorePath();
    const first = await tim({ storePath });
    const direct = c2c('alice', 'bot', [text('/ping')]);
    const inGroup = group('G1', 'alice', [text('@Bot /ping')], { GroupAtInfo: [{ GroupAtAllFlag: 0, GroupAt_Account: 'bot' }] });
    const requestTime = Math.floor(Date.now() / 1000);
    expect(await (await first.post('C2C.CallbackAfterSendMsg', direct, { requestTime })).json()).toEqual(okAnswer);
    expect(await (await first.post('Group.CallbackAfterSendMsg', inGroup, { requestTime })).json()).toEqual(okAnswer);
    await sentCount(first.fake, 2);
    await first.runtime.stop();
    const second = await tim({ storePath, fake: first.fake });
    expect(await (await second.post('C2C.CallbackAfterSendMsg', direct, { requestTime })).json()).toEqual(okAnswer);
    expect(await (await second.post('Group.CallbackAfterSendMsg', inGroup, { requestTime })).json()).toEqual(okAnswer);
    // New messages in the same chats are answered after the redeliveries would have been: only they are.
    await second.post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('/echo after')]));
    await second.post('Group.CallbackAfterSendMsg', group('G1', 'alice', [text('@Bot /echo after')], { GroupAtInfo: [{ GroupAtAllFlag: 0, GroupAt_Account: 'bot' }] }));
    const sent = await sentCount(second.fake, 4);
    // Each chat in order; the two chats side by side.
    const chat = (to: string) => sent.filter((m) => m.to === to).map((m) => m.body.MsgBody[0].MsgContent.Text);
    expect(chat('alice')).toEqual(['pong', 'after']);
    expect(chat('G1')).toEqual(['pong', 'after']);
  });

  it('answers After* callbacks at once, before a slow bot has finished', async () => {
    const bot = defineBot((b) => b.on('message', async (ctx) => (await sleep(800), ctx.reply('done'))));
    const { fake, post } = await tim({ bot });
    const started = Date.now();
    const res = await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('take your time')]));
    expect(await res.json()).toEqual(okAnswer);
    expect(Date.now() - started).toBeLessThan(400);
    const [sent] = await sentCount(fake, 1);
    expect(sent!.body.MsgBody).toEqual([text('done')]);
  });

  it('tries a rate-limited send (60007) again under the core\'s policy, and the reply arrives once', async () => {
    const { fake, post } = await tim();
    fake.failNext('openim/sendmsg', 60007, 'REST API call frequency limit', 2);
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('/ping')]));
    await sentCount(fake, 1);
    expect(fake.calls.map((c) => c.code)).toEqual([60007, 60007, 0]);
    expect(fake.sent).toHaveLength(1);
  });

  it('renews a UserSig Tencent calls expired (70001) once and sends; a second refusal in a row is kept as a dead letter, not looped on', async () => {
    const generated = vi.spyOn(tlsSigApi.Api.prototype, 'genUserSig');
    try {
      const { fake, post, logs } = await tim();
      fake.failNext('openim/sendmsg', 70001, 'UserSig expired');
      await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('/ping')]));
      await sentCount(fake, 1);
      expect(fake.calls.map((c) => c.code)).toEqual([70001, 0]);
      expect(generated).toHaveBeenCalledTimes(2); // the first UserSig, and one renewal
      fake.failNext('openim/sendmsg', 70001, 'UserSig expired', 5);
      await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('/ping')]));
      const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
      expect(line).toMatchObject({ deadLetter: true, err: expect.stringMatching(/UserSig expired \(ErrorCode 70001\)/) });
      expect(fake.calls.map((c) => c.code)).toEqual([70001, 0, 70001, 70001]);
    } finally {
      generated.mockRestore();
    }
  });

  it('reports a refused send (ActionStatus FAIL) in the delivery, with no UserSig or key in the log', async () => {
    const { fake, post, logs } = await tim();
    fake.failNext('group_open_http_svc/send_group_msg', 10010, 'group does not exist');
    await post('Group.CallbackAfterSendMsg', group('G404', 'alice', [text('/ping')], { GroupAtInfo: [{ GroupAtAllFlag: 0, GroupAt_Account: 'bot' }] }));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
    expect(line.err).toBe('IM REST group_open_http_svc/send_group_msg failed: group does not exist (ErrorCode 10010)');
    const all = JSON.stringify(logs);
    expect(all).not.toContain(fake.calls[0]!.userSig);
    expect(all).not.toContain(fake.secretKey);
    expect(all).not.toContain(fake.callbackToken);
  });
});

describe('tencent-im: refused callbacks', () => {
  const noneHandled = async (seen: Message[], f: FakeTencentIM) => {
    await sleep(150);
    expect(seen).toEqual([]);
    expect(f.sent).toEqual([]);
  };

  it('answers 401 to a wrong, missing or stale Sign, and 403 to another app\'s SdkAppid', async () => {
    const seen: Message[] = [];
    const { fake, post } = await tim({ bot: recordingBot(seen) });
    const event = c2c('alice', 'bot', [text('/ping')]);
    const now = Math.floor(Date.now() / 1000);
    const results = [
      await post('C2C.CallbackAfterSendMsg', event, { sign: 'ab'.repeat(32) }),
      await post('C2C.CallbackAfterSendMsg', event, { token: 'not-the-token' }),
      await post('C2C.CallbackAfterSendMsg', event, { token: null }),
      await post('C2C.CallbackAfterSendMsg', event, { requestTime: now - 120 }),
      await post('C2C.CallbackAfterSendMsg', event, { requestTime: now + 120 }),
      await post('C2C.CallbackAfterSendMsg', event, { sdkAppId: '1400000999' }),
    ];
    expect(results.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 403]);
    expect(await results[3]!.json()).toEqual({ error: 'callback refused: RequestTime is too far from now (stale or replayed request)' });
    expect(await results[5]!.json()).toEqual({ error: 'callback refused: SdkAppid 1400000999 is not this app\'s' });
    await noneHandled(seen, fake);
  });

  it('answers OK to a signed callback it cannot read (malformed JSON, no command, over the body limit), logged and handed to nobody', async () => {
    // It passed the Sign check, so Tencent sent it: it is logged and consumed, never answered with an error to retry.
    const seen: Message[] = [];
    const { fake, post, logs } = await tim({ bot: recordingBot(seen) });
    const answers = [
      await post('C2C.CallbackAfterSendMsg', {}, { rawBody: '{"From_Account": ' }),
      await post('C2C.CallbackAfterSendMsg', {}, { rawBody: '[1, 2]' }),
      await post('', {}, { rawBody: '{"From_Account": "alice"}' }),
      await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('x'.repeat(2 * 1024 * 1024))])),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(await Promise.all(answers.map((r) => r.json()))).toEqual([okAnswer, okAnswer, okAnswer, okAnswer]);
    expect(logs.filter((l) => l.level === 50 && l.platform === 'tencent-im').map((l) => (l.err as { message: string }).message)).toEqual([
      'request body is not valid JSON',
      'request body must be a JSON object',
      'CallbackCommand is missing (query string or body)',
      `request body is larger than ${1024 * 1024} bytes`,
    ]);
    await noneHandled(seen, fake);
  });

  it('answers an unknown command OK, logs it, and hands it to nobody', async () => {
    const events: PlatformEvent[] = [];
    const seen: Message[] = [];
    const bot = recordingBot(seen).on('event', (ctx) => void events.push(ctx.event));
    const { post, logs } = await tim({ bot });
    const res = await post('Future.CallbackAfterSomething', { Whatever: 1 });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(okAnswer);
    expect(logs.find((l: LogLine) => l.msg === 'unknown callback command; answered OK')).toMatchObject({ command: 'Future.CallbackAfterSomething' });
    await sleep(100);
    expect(events).toEqual([]);
    expect(seen).toEqual([]);
  });
});

describe('tencent-im: Before* interception', () => {
  const moderator = () =>
    defineBot((b) => {
      b.intercept((ctx) => (ctx.message.author.id === 'mallory' ? ctx.deny('you are muted') : undefined));
      b.intercept((ctx) => (ctx.message.text.includes('spam') ? ctx.drop() : undefined));
      b.intercept((ctx) => (ctx.message.text.includes('darn') ? ctx.rewrite([{ type: 'text', text: ctx.message.text.replace('darn', '****') }, ...ctx.message.content.filter((s) => s.type === 'unknown')]) : undefined));
    });

  it('denies (ErrorCode 1 with the reason), drops silently (2), rewrites (0 + MsgBody) and allows (0)', async () => {
    const { post } = await tim({ bot: moderator() });
    const face = { MsgType: 'TIMFaceElem', MsgContent: { Index: 1, Data: 'smile' } };
    const answers = await Promise.all([
      post('C2C.CallbackBeforeSendMsg', c2c('mallory', 'carol', [text('hello')])),
      post('C2C.CallbackBeforeSendMsg', c2c('alice', 'carol', [text('buy spam now')])),
      post('Group.CallbackBeforeSendMsg', group('G1', 'alice', [text('oh darn'), face])),
      post('C2C.CallbackBeforeSendMsg', c2c('alice', 'carol', [text('hello')])),
    ]).then((all) => Promise.all(all.map((r) => r.json())));
    expect(answers).toEqual([
      { ActionStatus: 'OK', ErrorCode: 1, ErrorInfo: 'you are muted' },
      { ActionStatus: 'OK', ErrorCode: 2, ErrorInfo: '' },
      { ...okAnswer, MsgBody: [text('oh ****'), face] },
      okAnswer,
    ]);
  });

  it('shows the interceptor the message normalized, with its kind', async () => {
    const seen: { kind: string; message: Message }[] = [];
    const bot = defineBot((b) => b.intercept((ctx) => void seen.push({ kind: ctx.kind, message: ctx.message })));
    const { post } = await tim({ bot });
    await post('C2C.CallbackBeforeSendMsg', c2c('alice', 'carol', [text('hi carol')]));
    await post('Group.CallbackBeforeSendMsg', group('G1', 'alice', [text('@Bot look')], { GroupAtInfo: [{ GroupAtAllFlag: 0, GroupAt_Account: 'bot' }] }));
    await post('C2C.CallbackBeforeSendMsg', c2c('bot', 'alice', [text('a reply of ours')]));
    expect(seen.map((s) => s.kind)).toEqual(['C2C.CallbackBeforeSendMsg', 'Group.CallbackBeforeSendMsg']);
    expect(seen[0]!.message).toMatchObject({ text: 'hi carol', author: { id: 'alice' }, channel: { id: 'user:carol', type: 'direct' }, platform: 'tencent-im' });
    // What may be rewritten is the whole text, the @ included.
    expect(seen[1]!.message).toMatchObject({ text: '@Bot look', mentionsBot: true, channel: { id: 'group:G1', type: 'group' } });
  });

  it('allows in time when the interceptor is too slow', async () => {
    const bot = defineBot((b) => b.intercept(async (ctx) => (await sleep(2000), ctx.deny('too late'))));
    const { post, logs } = await tim({ bot, extra: ', interceptTimeout: 150ms' });
    const started = Date.now();
    const res = await post('C2C.CallbackBeforeSendMsg', c2c('alice', 'carol', [text('hi')]));
    expect(await res.json()).toEqual(okAnswer);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(1000);
    expect(logs.some((l) => l.msg.startsWith('interceptor too slow'))).toBe(true);
  });

  it('answers OK at once when the bot does not intercept, even with a slow message handler', async () => {
    const bot = defineBot((b) => b.on('message', async () => void (await sleep(3000))));
    const { post } = await tim({ bot });
    const started = Date.now();
    const res = await post('Group.CallbackBeforeSendMsg', group('G1', 'alice', [text('hello')]));
    expect(await res.json()).toEqual(okAnswer);
    expect(Date.now() - started).toBeLessThan(300);
  });

  it('asks about other Before* callbacks too: a refused group creation is ErrorCode 1', async () => {
    const bot = defineBot((b) => b.intercept((ctx) => (ctx.kind === 'Group.CallbackBeforeCreateGroup' && ctx.message.author.id === 'mallory' ? ctx.drop() : undefined)));
    const { post } = await tim({ bot });
    const create = (who: string) => ({ Operator_Account: who, Owner_Account: who, Type: 'Public', Name: 'test', CreateGroupNum: 1, MemberList: [], EventTime: Date.now() });
    expect(await (await post('Group.CallbackBeforeCreateGroup', create('mallory'))).json()).toEqual({ ActionStatus: 'OK', ErrorCode: 1, ErrorInfo: '' });
    expect(await (await post('Group.CallbackBeforeCreateGroup', create('alice'))).json()).toEqual(okAnswer);
  });
});

describe('tencent-im: platform events and lifecycle callbacks', () => {
  it('hands a group event to bot.on(\'event\') and the onEvent callback; what the handler sends reaches the group', async () => {
    const hooks = cleanUp(await new CallbackServer().start());
    const events: PlatformEvent[] = [];
    const bot = defineBot((b) =>
      b.on('event', (ctx) => {
        events.push(ctx.event);
        const joined = (ctx.event.data as { NewMemberList: { Member_Account: string }[] }).NewMemberList.map((m) => m.Member_Account);
        if (ctx.event.type === 'Group.CallbackAfterNewMemberJoin' && ctx.event.channel) ctx.send({ botId: ctx.event.botId, channelId: ctx.event.channel.id }, `Welcome, ${joined.join(' and ')}!`);
      }),
    );
    const { fake, post } = await tim({ bot, yaml: `callbacks:\n  onEvent: { url: "${hooks.url}/onEvent" }\n` });
    const body = { GroupId: '@TGS#2J4SZEAEL', Type: 'Public', JoinType: 'Apply', Operator_Account: 'leckie', NewMemberList: [{ Member_Account: 'jared' }, { Member_Account: 'tommy' }], EventTime: 1670574414123 };
    const res = await post('Group.CallbackAfterNewMemberJoin', body);
    expect(await res.json()).toEqual(okAnswer);
    const [sent] = await sentCount(fake, 1);
    expect(sent).toMatchObject({ kind: 'group', to: '@TGS#2J4SZEAEL', body: { From_Account: 'bot', MsgBody: [text('Welcome, jared and tommy!')] } });
    expect(events[0]).toMatchObject({ platform: 'tencent-im', botId: 'tim', type: 'Group.CallbackAfterNewMemberJoin', channel: { id: 'group:@TGS#2J4SZEAEL', type: 'group' }, author: { id: 'leckie' }, timestamp: 1670574414123 });
    expect(events[0]!.data).toMatchObject(body);
    const observed = await waitFor(() => hooks.received.find((r) => r.stage === 'onEvent'));
    expect(observed.body).toMatchObject({ stage: 'onEvent', event: { type: 'Group.CallbackAfterNewMemberJoin', botId: 'tim' } });
  });

  it('an onMessage callback answering 403 blocks a user: they get its text, the bot never runs', async () => {
    const hooks = cleanUp(await new CallbackServer().start());
    hooks.on('onMessage', (ctx, body) => {
      if (body.message.author.id === 'mallory') {
        ctx.status = 403;
        ctx.type = 'text/plain';
        ctx.body = 'You are blocked.';
      } else ctx.status = 204;
    });
    const seen: Message[] = [];
    const { fake, post } = await tim({ bot: recordingBot(seen), yaml: `callbacks:\n  onMessage: { url: "${hooks.url}/onMessage" }\n` });
    await post('C2C.CallbackAfterSendMsg', c2c('mallory', 'bot', [text('/ping')]));
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('hi')]));
    const sent = await sentCount(fake, 2);
    expect(sent.map((s) => [s.to, s.body.MsgBody])).toEqual([
      ['mallory', [text('You are blocked.')]],
      ['alice', [text('hi')]],
    ]);
    expect(seen.map((m) => m.author.id)).toEqual(['alice']);
  });
});
