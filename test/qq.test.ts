// QQ end to end in webhook mode (the mode QQ maintains): signed events in -> echo bot -> the
// replies that reached the fake OpenAPI, plus every way a webhook request can be wrong.

import { afterEach, describe, expect, it } from 'vitest';
import qq from '../adapters/qq/index.js';
import type { AdapterDefinition } from '../src/adapter.js';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { Message } from '../src/message.js';
import { definitions } from '../src/runtime/registry.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { c2c, FakeQQ, groupAt, guildAt, guildDm, signHex } from './fakes/qq.js';
import { recordingBot, sleep, startRuntime, tempStorePath, waitFor } from './helpers.js';

const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ee9c8a9b0000000049454e44ae426082', 'hex');

let runtime: Runtime | undefined;
let fake: FakeQQ | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  runtime = fake = undefined;
});

/** The core's retry policy, fast: a failing send is tried three times within a fraction of a second. */
const fastDelivery = 'delivery: { attempts: 3, initialDelay: 10ms, maxDelay: 50ms }\n';

async function qqWebhook(options: { bot?: Bot; extra?: string; yaml?: string; storePath?: string; fake?: FakeQQ } = {}) {
  const f = (fake = options.fake ?? (await new FakeQQ().start()));
  const yaml = `platforms:\n  - { id: qq, type: qq, appId: "${f.appId}", appSecret: "${f.appSecret}", mode: webhook, apiRoot: "${f.url}", tokenUrl: "${f.url}/app/getAppAccessToken"${options.extra ?? ''} }\n${options.yaml ?? ''}`;
  const started = await startRuntime(yaml, { bot: options.bot, definitions: [...definitions, qq as unknown as AdapterDefinition], ...(options.storePath ? { storePath: options.storePath } : {}) });
  runtime = started.runtime;
  const hook = `${started.url}/webhooks/qq`;
  return { fake: f, runtime: started.runtime, url: started.url, logs: started.logs, deliver: (payload: object, opts?: Parameters<FakeQQ['deliver']>[2]) => f.deliver(hook, payload, opts) };
}

/** The sends (not uploads or profile reads) that reached the fake, answered or not. */
const sendCalls = (f: FakeQQ) => f.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/messages'));

const sentCount = (f: FakeQQ, n: number) => waitFor(() => f.sent.length >= n && f.sent, 4000, `${n} messages at the fake`);

describe('qq webhook: the address validation (op 13)', () => {
  it('answers with the signature of event_ts + plain_token, matching the docs example', async () => {
    const { deliver } = await qqWebhook();
    // The docs' example: appid 11111111, secret DG5g3B4j9X2KOErG (the fake uses the same secret).
    const res = await deliver({ d: { plain_token: 'Arq0D5A61EgUu4OxUvOp', event_ts: '1725442341' }, op: 13 });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      plain_token: 'Arq0D5A61EgUu4OxUvOp',
      signature: '87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d01bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706',
    });
  });

  it('refuses an unsigned validation request, so no one can make the bot sign what they like', async () => {
    const { deliver } = await qqWebhook();
    const res = await deliver({ d: { plain_token: 'x', event_ts: '1' }, op: 13 }, { signature: null });
    expect(res.status).toBe(401);
  });
});

describe('qq webhook: messages', () => {
  it('answers a group @-message as a passive reply (msg_id + msg_seq) and ACKs with op 12', async () => {
    const { fake, deliver } = await qqWebhook();
    const event = groupAt('/ping');
    const res = await deliver(event);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ op: 12, d: 0 });
    const [sent] = await sentCount(fake, 1);
    expect(sent).toMatchObject({ scene: 'group', target: event.d.group_openid, body: { content: 'pong', msg_type: 0, msg_id: event.d.id, msg_seq: expect.any(Number) } });
    const call = fake.calls.find((c) => c.path.endsWith('/messages'))!;
    expect(call.token).toMatch(/^tok-/);
  });

  it('echoes a C2C message and gives several replies to one message each a msg_seq of its own', async () => {
    const bot = defineBot((b) => b.on('message', (ctx) => ['one', 'two', 'three'].forEach((t) => ctx.reply(t))));
    const { fake, deliver } = await qqWebhook({ bot });
    const event = c2c('hi');
    await deliver(event);
    const sent = await sentCount(fake, 3);
    expect(sent.map((s) => [s.scene, s.target, s.body.content, s.body.msg_id])).toEqual([
      ['user', event.d.author.user_openid, 'one', event.d.id],
      ['user', event.d.author.user_openid, 'two', event.d.id],
      ['user', event.d.author.user_openid, 'three', event.d.id],
    ]);
    expect(new Set(sent.map((s) => s.body.msg_seq)).size).toBe(3);
  });

  it('normalizes a guild @-message (the @bot stripped, mentionsBot set) and replies in the channel, quoting it', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await qqWebhook({ bot: recordingBot(seen) });
    const event = guildAt('a &lt;b&gt; &amp; <@!777> c', fake.botUser, { mentions: [{ id: '777', username: 'carol', bot: false }] });
    await deliver(event);
    const [sent] = await sentCount(fake, 1);
    expect(seen[0]).toMatchObject({
      id: event.d.id,
      platform: 'qq',
      text: 'a <b> & @carol c',
      mentionsBot: true,
      channel: { id: 'channel:100010', type: 'channel', guildId: '18700000000001' },
      author: { id: '1234', name: 'Alice', username: 'alice', isBot: false },
    });
    expect(seen[0]!.content).toEqual([{ type: 'text', text: 'a <b> & ' }, { type: 'mention', userId: '777', name: 'carol' }, { type: 'text', text: ' c' }]);
    expect(sent).toMatchObject({ scene: 'channel', target: '100010', body: { content: 'a &lt;b&gt; &amp; @carol c', msg_id: event.d.id, message_reference: { message_id: event.d.id } } });
    expect(sent!.body.msg_seq).toBeUndefined();
  });

  it('answers a guild direct message through /dms/{guild_id}', async () => {
    const { fake, deliver } = await qqWebhook();
    const event = guildDm('/echo from a DM');
    await deliver(event);
    const [sent] = await sentCount(fake, 1);
    expect(sent).toMatchObject({ scene: 'dm', target: '9876543210', body: { content: 'from a DM', msg_id: event.d.id } });
  });

  it('sees a group message as addressed to the bot, with the leading space QQ leaves trimmed', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await qqWebhook({ bot: recordingBot(seen) });
    await deliver(groupAt('hello there', { member: 'M1' }));
    await deliver(c2c('just us', { user: 'U1' }));
    await sentCount(fake, 2);
    expect(seen.map((m) => [m.text, m.mentionsBot, m.channel.type, m.author.id])).toEqual([
      ['hello there', true, 'group', 'M1'],
      ['just us', false, 'direct', 'U1'],
    ]);
  });

  it('echoes a group image through a rich-media upload of QQ\'s own URL, then msg_type 7', async () => {
    const { fake, deliver } = await qqWebhook();
    const cdn = fake.addFile('photo.png', png, 'image/png');
    const event = groupAt('', { attachments: [{ content_type: 'image/png', filename: 'photo.png', url: cdn, width: 1, height: 1, size: png.length }] });
    await deliver(event);
    const [sent] = await sentCount(fake, 1);
    expect(fake.uploads).toHaveLength(1);
    expect(fake.uploads[0]).toMatchObject({ scene: 'group', target: event.d.group_openid, body: { file_type: 1, url: cdn, srv_send_msg: false } });
    expect(fake.uploads[0]!.bytes.equals(png)).toBe(true);
    expect(sent!.body).toEqual({ content: ' ', msg_type: 7, media: { file_info: fake.uploads[0]!.fileInfo }, msg_id: event.d.id, msg_seq: expect.any(Number) });
  });

  it('echoes a guild image through the image URL field, quoting the message', async () => {
    const { fake, deliver } = await qqWebhook();
    const cdn = fake.addFile('g.png', png, 'image/png');
    const event = guildAt('', fake.botUser);
    event.d.attachments = [{ content_type: 'image/png', filename: 'g.png', url: cdn }];
    await deliver(event);
    const [sent] = await sentCount(fake, 1);
    expect(sent).toMatchObject({ scene: 'channel', body: { image: cdn, msg_id: event.d.id, message_reference: { message_id: event.d.id } } });
    expect(fake.uploads).toEqual([]);
  });

  it('serves bytes the bot made from a short-lived media URL for QQ to fetch, and shows buttons as numbered text', async () => {
    const bot = defineBot((b) =>
      b.on('message', (ctx) =>
        ctx.reply([
          { type: 'image', data: png, mime: 'image/png', name: 'chart.png' },
          { type: 'text', text: 'Pick one' },
          { type: 'buttons', rows: [[{ label: 'Yes', value: 'yes' }, { label: 'Docs', url: 'https://example.com/docs' }]] },
        ]),
      ),
    );
    const { fake, deliver, url } = await qqWebhook({ bot });
    const event = c2c('draw');
    await deliver(event);
    const sent = await sentCount(fake, 2);
    const upload = fake.uploads[0]!;
    expect(upload.body.url.startsWith(`${url}/media/`)).toBe(true);
    expect(upload.bytes.equals(png)).toBe(true);
    expect(upload.contentType).toBe('image/png');
    expect(sent.map((s) => s.body)).toEqual([
      { content: ' ', msg_type: 7, media: { file_info: upload.fileInfo }, msg_id: event.d.id, msg_seq: expect.any(Number) },
      { content: 'Pick one\n1. Yes — send "yes"\n2. Docs (https://example.com/docs)', msg_type: 0, msg_id: event.d.id, msg_seq: expect.any(Number) },
    ]);
    expect(sent[0]!.body.msg_seq).not.toBe(sent[1]!.body.msg_seq);
  });

  it('exposes an inbound attachment as a Switchboard media URL whose bytes come from QQ\'s CDN', async () => {
    const seen: Message[] = [];
    const { fake, deliver, url } = await qqWebhook({ bot: recordingBot(seen) });
    const cdn = fake.addFile('in.png', png, 'image/png');
    await deliver(c2c('look', { attachments: [{ content_type: 'image/png', filename: 'in.png', url: cdn }] }));
    await waitFor(() => seen.length === 1);
    const image = seen[0]!.content.find((s) => s.type === 'image') as { url: string };
    expect(image.url.startsWith(`${url}/media/`)).toBe(true);
    expect(Buffer.from(await (await fetch(image.url)).arrayBuffer()).equals(png)).toBe(true);
  });

  it('handles a redelivered event once', async () => {
    const { fake, deliver } = await qqWebhook();
    const event = groupAt('/ping');
    expect((await deliver(event)).status).toBe(200);
    expect((await deliver(event)).status).toBe(200);
    await sentCount(fake, 1);
    await sleep(200);
    expect(fake.sent).toHaveLength(1);
  });

  it('handles an event delivered again after a restart once: the dedup is in the store', async () => {
    const storePath = tempStorePath();
    const first = await qqWebhook({ storePath });
    const event = groupAt('/ping');
    const timestamp = Math.floor(Date.now() / 1000);
    expect(await (await first.deliver(event, { timestamp })).json()).toEqual({ op: 12, d: 0 });
    await sentCount(first.fake, 1);
    await first.runtime.stop();
    const second = await qqWebhook({ storePath, fake: first.fake });
    const again = await second.deliver(event, { timestamp });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ op: 12, d: 0 });
    // A new message in the same group is answered after the redelivery would have been: only it is.
    const next = groupAt('/ping');
    await second.deliver(next);
    const sent = await sentCount(second.fake, 2);
    expect(sent.map((m) => m.body.msg_id)).toEqual([event.d.id, next.d.id]);
  });

  it('answers 503 with Retry-After to an event it can no longer take, so QQ delivers it again', async () => {
    const seen: Message[] = [];
    const { fake, runtime: r, deliver } = await qqWebhook({ bot: recordingBot(seen) });
    r.pipeline.close(); // what stop() does first
    const res = await deliver(groupAt('/ping'));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    await sleep(50);
    expect(seen).toEqual([]);
    expect(fake.sent).toEqual([]);
  });

  it('fetches a new token when the old one expires mid-run, and the reply still arrives', async () => {
    const { fake, deliver } = await qqWebhook();
    await deliver(c2c('first'));
    await sentCount(fake, 1);
    const firstToken = fake.calls.at(-1)!.token;
    expect(fake.tokenRequests).toBe(1);
    fake.expireTokens();
    await deliver(c2c('second'));
    await sentCount(fake, 2);
    expect(fake.sent.map((s) => s.body.content)).toEqual(['first', 'second']);
    const refused = fake.calls.filter((c) => c.status === 401);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.token).toBe(firstToken);
    expect(fake.calls.at(-1)!.token).not.toBe(firstToken);
    expect(fake.tokenRequests).toBe(2); // one refresh
  });

  it('waits out a 429 for its Retry-After, then sends the part with the same msg_seq', async () => {
    const { fake, deliver } = await qqWebhook();
    await sleep(50); // let the start-up profile call settle
    fake.failNext('POST /v2/groups', 429, { message: 'too many requests', code: 22009 }, 1, { 'retry-after': '1' });
    const started = Date.now();
    await deliver(groupAt('/ping'));
    await sentCount(fake, 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const [refused, accepted] = sendCalls(fake);
    expect(refused!.status).toBe(429);
    expect(accepted!.body!.msg_seq).toBe(refused!.body!.msg_seq);
  });

  it('tries a part again after a 503 with the same msg_seq, so QQ shows it once even when the first try went through', async () => {
    const { fake, deliver, logs } = await qqWebhook({ yaml: fastDelivery });
    fake.loseAnswerNext('POST /v2/groups', 503);
    const event = groupAt('/ping');
    await deliver(event);
    // The group's next message is handled once the first is done with, retries included.
    const next = groupAt('/echo done');
    await deliver(next);
    const sent = await sentCount(fake, 2);
    expect(sent.map((m) => [m.body.msg_id, m.body.content])).toEqual([
      [event.d.id, 'pong'],
      [next.d.id, 'done'],
    ]);
    const [lost, again] = sendCalls(fake);
    expect(lost!.status).toBe(503);
    expect(again!.body).toEqual(lost!.body); // same msg_id + msg_seq: QQ answered it was a repeat
    expect(logs.some((l) => l.msg === 'delivery failed')).toBe(false);
  });

  it('keeps a send QQ refuses for good (a 4xx) as a dead letter after one try, with QQ\'s code', async () => {
    const { fake, deliver, logs } = await qqWebhook({ yaml: fastDelivery });
    fake.failNext('POST /v2/users', 400, { message: 'msg expired', code: 304027 }, 5);
    await deliver(c2c('late'));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
    expect(line).toMatchObject({ deadLetter: true, err: expect.stringMatching(/msg expired \(code 304027\)/) });
    expect(sendCalls(fake)).toHaveLength(1);
    expect(fake.sent).toEqual([]);
  });
});

describe('qq webhook: refused requests', () => {
  it('answers 401 to a forged, missing, wrong-key, tampered or stale signature, and processes none of them', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await qqWebhook({ bot: recordingBot(seen) });
    const event = groupAt('/ping');
    const body = JSON.stringify(event);
    const ts = Math.floor(Date.now() / 1000);
    const attempts = [
      await deliver(event, { signature: 'ab'.repeat(64) }),
      await deliver(event, { signature: null }),
      await deliver(event, { secret: 'not-the-app-secret-at-all' }),
      await deliver(event, { timestamp: ts, signature: signHex(fake.appSecret, ts + body), rawBody: body.replace('/ping', '/pong') }),
      await deliver(event, { timestamp: ts - 3600 }),
      await deliver(event, { timestamp: ts + 3600 }),
    ];
    expect(attempts.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(await attempts[4]!.json()).toEqual({ error: 'signature check failed: X-Signature-Timestamp is too far from now (stale or replayed request)' });
    await sleep(150);
    expect(seen).toEqual([]);
    expect(fake.sent).toEqual([]);
  });

  it('ACKs a signed body it cannot read (not JSON, not a payload, op 13 without its fields), logged and not handled; 413 to an oversized one', async () => {
    // Signed, so QQ sent it: any answer but a 2xx makes QQ deliver it again, and it would fail again.
    const { fake, deliver, logs } = await qqWebhook({ extra: '' });
    const answers = [await deliver({}, { rawBody: '{"op": 0, "d": ' }), await deliver({ hello: 'world' }), await deliver({ op: 13, d: {} })];
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await Promise.all(answers.map((r) => r.json()))).toEqual([{ op: 12, d: 0 }, { op: 12, d: 0 }, { op: 12, d: 0 }]);
    expect(logs.filter((l) => l.level === 50 && l.platform === 'qq').map((l) => (l.err as { message: string }).message)).toEqual([
      'request body is not valid JSON',
      'not a QQ payload: op (integer) is required',
      'op 13 needs d.plain_token and d.event_ts (strings)',
    ]);
    // Too large to be read, and so to be checked: refused.
    expect((await deliver(groupAt('x'.repeat(2 * 1024 * 1024)))).status).toBe(413);
    await sleep(100);
    expect(fake.sent).toEqual([]);
  });

  it('ACKs events it does not handle without dispatching them', async () => {
    const seen: Message[] = [];
    const { deliver } = await qqWebhook({ bot: recordingBot(seen) });
    const res = await deliver({ op: 0, id: 'GROUP_ADD_ROBOT:1', t: 'GROUP_ADD_ROBOT', d: { group_openid: 'G', op_member_openid: 'M', timestamp: 1 } });
    expect(await res.json()).toEqual({ op: 12, d: 0 });
    await sleep(100);
    expect(seen).toEqual([]);
  });
});
