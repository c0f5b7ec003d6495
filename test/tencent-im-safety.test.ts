// Tencent IM under stress and attack: shutdown, forged or odd callbacks, failing interceptors,
// an unreachable REST API, users' files, and secrets that must stay out of logs and payloads.

import { afterEach, describe, expect, it } from 'vitest';
import { defineBot } from '../src/bot/bot.js';
import type { MediaSegment, Message } from '../src/message.js';
import { CallbackServer } from './fakes/callback-server.js';
import { c2c, text } from './fakes/tencent-im.js';
import { cleanUp, okAnswer, sentCount, stopAll, tim } from './fakes/tencent-im-harness.js';
import { recordingBot, sleep, waitFor } from './helpers.js';

afterEach(stopAll);

/** A bot that downloads every media segment it gets and answers with what it read (or why it could not). */
const downloadingBot = () =>
  defineBot((b) =>
    b.on('message', async (ctx) => {
      const media = ctx.message.content.find((s): s is MediaSegment => ['image', 'file', 'audio', 'video'].includes(s.type));
      if (!media) return;
      try {
        const body = await ctx.download(media);
        ctx.reply(`${media.type} ${body.name ?? '-'} ${body.mime} ${Buffer.from(body.data).toString('utf8')}`);
      } catch (error) {
        ctx.reply(`refused: ${(error as Error).message}`);
      }
    }),
  );

describe('tencent-im: shutdown', () => {
  it('does not acknowledge a message or event it can no longer handle: 503 with the server\'s Retry-After instead of OK', async () => {
    const seen: Message[] = [];
    const { fake, runtime, post } = await tim({ bot: recordingBot(seen) });
    runtime.pipeline.close(); // what stop() does first, while requests already inside the server go on
    const message = await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('/ping')]));
    expect(message.status).toBe(503);
    expect(message.headers.get('retry-after')).toBe('5'); // server.retryAfter, one policy for every route
    const event = await post('Group.CallbackAfterNewMemberJoin', { GroupId: 'G1', Operator_Account: 'alice', NewMemberList: [{ Member_Account: 'bob' }] });
    expect(event.status).toBe(503);
    await sleep(50);
    expect(seen).toEqual([]);
    expect(fake.sent).toEqual([]);
  });
});

describe('tencent-im: callbacks that are not what they claim', () => {
  it('a signed callback without SdkAppid is answered OK (a URL check) but never handled nor intercepted', async () => {
    const seen: Message[] = [];
    const asked: string[] = [];
    const bot = recordingBot(seen).intercept((ctx) => (asked.push(ctx.kind), ctx.deny('no')));
    const { fake, post } = await tim({ bot });
    const message = await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('/ping')]), { sdkAppId: null });
    expect(message.status).toBe(200);
    expect(await message.json()).toEqual(okAnswer);
    const before = await post('C2C.CallbackBeforeSendMsg', c2c('alice', 'carol', [text('hi')]), { sdkAppId: null });
    expect(await before.json()).toEqual(okAnswer);
    const empty = await post('', {}, { sdkAppId: null, rawBody: '' });
    expect(empty.status).toBe(200);
    await sleep(100);
    expect(asked).toEqual([]);
    expect(seen).toEqual([]);
    expect(fake.sent).toEqual([]);
  });

  it('never fetches a loopback or private URL named in a callback unless allowPrivateNetworks is set', async () => {
    const { fake, post } = await tim({ bot: downloadingBot() });
    const file = fake.addFile('secret.txt', Buffer.from('internal'), 'text/plain');
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [{ MsgType: 'TIMFileElem', MsgContent: { Url: file, FileName: 'secret.txt', FileSize: 8 } }]));
    const [sent] = await sentCount(fake, 1);
    expect(sent!.body.MsgBody[0].MsgContent.Text).toMatch(/^refused: .*127\.0\.0\.1 is a private or loopback address/);
    expect(fake.fileRequests).toEqual([]);
  });
});

describe('tencent-im: users\' files', () => {
  it('hands the bot a file, a voice message and a video it can download, names kept', async () => {
    const { fake, post } = await tim({ bot: downloadingBot(), extra: ', allowPrivateNetworks: true' });
    const doc = fake.addFile('report.txt', Buffer.from('quarterly'), 'text/plain');
    const voice = fake.addFile('voice.amr', Buffer.from('AMR-bytes'), 'audio/amr');
    const video = fake.addFile('clip.mp4', Buffer.from('MP4-bytes'), 'video/mp4');
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [{ MsgType: 'TIMFileElem', MsgContent: { Url: doc, UUID: 'f1', FileSize: 9, FileName: 'report.txt', Download_Flag: 2 } }]));
    await sentCount(fake, 1);
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [{ MsgType: 'TIMSoundElem', MsgContent: { Url: voice, UUID: 's1', Size: 9, Second: 2, Download_Flag: 2 } }]));
    await sentCount(fake, 2);
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [{ MsgType: 'TIMVideoFileElem', MsgContent: { VideoUrl: video, VideoUUID: 'v1', VideoSize: 9, VideoSecond: 1, VideoFormat: 'mp4', ThumbUrl: `${fake.url}/files/thumb.jpg` } }]));
    const sent = await sentCount(fake, 3);
    expect(sent.map((s) => s.body.MsgBody[0].MsgContent.Text)).toEqual(['file report.txt text/plain quarterly', 'audio voice.amr audio/amr AMR-bytes', 'video clip.mp4 video/mp4 MP4-bytes']);
    expect(fake.fileRequests).toEqual(['/files/report.txt', '/files/voice.amr', '/files/clip.mp4']);
  });
});

describe('tencent-im: interceptors that fail', () => {
  it('allows in time when an interceptor throws, and when its rewrite cannot be sent; never a 500', async () => {
    const bot = defineBot((b) =>
      b.intercept((ctx) => {
        if (ctx.message.text === 'boom') throw new Error('interceptor bug');
        if (ctx.message.text === 'odd') return ctx.rewrite([{ type: 'image' }]);
        return undefined;
      }),
    );
    const { post, logs } = await tim({ bot });
    const thrown = await post('C2C.CallbackBeforeSendMsg', c2c('alice', 'carol', [text('boom')]));
    expect(thrown.status).toBe(200);
    expect(await thrown.json()).toEqual(okAnswer);
    const odd = await post('C2C.CallbackBeforeSendMsg', c2c('alice', 'carol', [text('odd')]));
    expect(odd.status).toBe(200);
    expect(await odd.json()).toEqual(okAnswer);
    expect(logs.filter((l) => l.msg.startsWith('interceptor')).map((l) => l.err)).toEqual(['interceptor bug', 'image has neither url nor data']);
  });
});

describe('tencent-im: the REST API failing', () => {
  it('tries an HTTP 5xx again under the core\'s policy and the reply arrives; a 5xx that persists is kept as a dead letter, without the UserSig the error page echoed', async () => {
    const { fake, runtime, post, logs } = await tim({ yaml: 'delivery: { attempts: 3, initialDelay: 10ms, maxDelay: 50ms }\n' });
    fake.failHttpNext('openim/sendmsg', 502, 2);
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('/ping')]));
    const [sent] = await sentCount(fake, 1);
    expect(sent!.body.MsgBody).toEqual([text('pong')]);
    expect(fake.calls.map((c) => c.code)).toEqual([-502, -502, 0]);
    fake.failHttpNext('openim/sendmsg', 503, 10);
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('/ping')]));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
    expect(line).toMatchObject({ deadLetter: true, err: 'IM REST openim/sendmsg failed: HTTP 503' });
    expect(fake.calls.map((c) => c.code)).toEqual([-502, -502, 0, -503, -503, -503]); // three tries in all, as configured
    const dead = await runtime.store.outbox.list('dead');
    expect(dead.map((d) => [d.message.to.channelId, d.error])).toEqual([['user:alice', 'IM REST openim/sendmsg failed: HTTP 503']]);
    expect(fake.sent).toHaveLength(1);
    const all = JSON.stringify(logs);
    for (const call of fake.calls) expect(all).not.toContain(call.userSig);
  });

  it('reads a REST reply only up to a bound: a 4 MB answer fails the delivery instead of filling memory', async () => {
    const { fake, post, logs } = await tim();
    fake.hugeReplyNext('openim/sendmsg');
    await post('C2C.CallbackAfterSendMsg', c2c('alice', 'bot', [text('/ping')]));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
    expect(line.err).toBe('IM REST openim/sendmsg failed: the reply is larger than 1048576 bytes');
  });
});

describe('tencent-im: secrets', () => {
  it('no secret key, callback token, Sign or UserSig in what lifecycle callbacks receive; raw is the callback body', async () => {
    const hooks = cleanUp(await new CallbackServer().start());
    const { fake, post, logs } = await tim({ yaml: `callbacks:\n  onMessage: { url: "${hooks.url}/onMessage" }\n  onSent: { url: "${hooks.url}/onSent" }\n` });
    const body = c2c('alice', 'bot', [text('/ping')]);
    await post('C2C.CallbackAfterSendMsg', body);
    await sentCount(fake, 1);
    const sentHook = await waitFor(() => hooks.received.find((r) => r.stage === 'onSent'));
    const onMessage = hooks.received.find((r) => r.stage === 'onMessage')!;
    expect(onMessage.body.message.raw).toEqual({ CallbackCommand: 'C2C.CallbackAfterSendMsg', ...body });
    const everything = JSON.stringify([hooks.received.map((r) => r.raw), logs]);
    for (const secret of [fake.secretKey, fake.callbackToken, fake.calls[0]!.userSig]) expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/Sign=/);
    expect(sentHook.body.delivery ?? sentHook.body.deliveries).toBeDefined();
  });
});
