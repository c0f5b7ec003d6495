// Lark end to end in webhook mode: events encrypted and signed as Lark does them -> the real SDK's
// EventDispatcher -> pipeline -> echo bot -> what reached the fake open API through the SDK's Client.

import { createCipheriv, createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { defineAdapter } from '../src/adapter.js';
import { defineBot, type Bot } from '../src/bot/bot.js';
import { definitions } from '../src/runtime/registry.js';
import { defaultTimings, LarkAdapter } from '../adapters/lark/index.js';
import { larkConfig } from '../adapters/lark/schema.js';
import type { Message } from '../src/message.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { CallbackServer } from './fakes/callback-server.js';
import { cardActionEvent, encrypt, FakeLark, mention, messageEvent, textEvent, users, type SentMessage } from './fakes/lark.js';
import { sleep, startRuntime, tempStorePath, waitFor } from './helpers.js';

const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ee9c8a9b0000000049454e44ae426082', 'hex');

let runtime: Runtime | undefined;
const fakes: FakeLark[] = [];
afterEach(async () => {
  await runtime?.stop();
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
  runtime = undefined;
});

async function newFake(options?: ConstructorParameters<typeof FakeLark>[0]) {
  const f = await new FakeLark(options).start();
  fakes.push(f);
  return f;
}

function platformLine(f: FakeLark, id = 'lark', extra = '') {
  return `  - { id: ${id}, type: lark, domain: "${f.url}", appId: "${f.appId}", appSecret: "${f.appSecret}", verificationToken: "${f.verificationToken}"${f.encryptKey ? `, encryptKey: "${f.encryptKey}"` : ''}, mode: webhook${extra} }`;
}

/** Tries of a reply item, quick: what the core's retry policy does, without the waiting. */
const quickDelivery = 'delivery: { attempts: 3, initialDelay: 10ms, maxDelay: 50ms }\n';

async function larkWebhook(options: { bot?: Bot; encryptKey?: string | null; yaml?: string; platformExtra?: string; storePath?: string } = {}) {
  const fake = await newFake({ encryptKey: options.encryptKey });
  const started = await startRuntime(`platforms:\n${platformLine(fake, 'lark', options.platformExtra)}\n${options.yaml ?? ''}`, { bot: options.bot, storePath: options.storePath });
  runtime = started.runtime;
  const hook = `${started.url}/webhooks/lark`;
  return { fake, url: started.url, logs: started.logs, hook, deliver: (payload: object, opts?: Parameters<FakeLark['deliver']>[2]) => fake.deliver(hook, payload, opts) };
}

/** base64(iv + one AES block) under the Encrypt Key that decrypts to a block of zeros: invalid PKCS#7 padding. */
function badPadding(encryptKey: string): string {
  const iv = Buffer.alloc(16, 7);
  const cipher = createCipheriv('aes-256-cbc', createHash('sha256').update(encryptKey).digest(), iv).setAutoPadding(false);
  return Buffer.concat([iv, cipher.update(Buffer.alloc(16)), cipher.final()]).toString('base64');
}

const sentCount = (f: FakeLark, n: number) => waitFor(() => f.sent.length >= n && f.sent, 4000, `${n} messages at the fake`);

const controlText = 'control message';
/**
 * Sends one ordinary message in the chat after those under test and waits for its answer: one of
 * them wrongly taken would have been handled first (a chat's messages are handled in order).
 * Returns what the fake received apart from that answer.
 */
async function sentBeforeControl(fake: FakeLark, deliver: (payload: object) => Promise<Response>): Promise<FakeLark['sent']> {
  expect((await deliver(textEvent(fake, controlText))).status).toBe(200);
  const isControl = (s: FakeLark['sent'][number]) => (s.content as { text?: string }).text === controlText;
  await waitFor(() => fake.sent.some(isControl), 4000, 'the control message answered');
  return fake.sent.filter((s) => !isControl(s));
}
const notControl = (seen: Message[]) => seen.filter((m) => m.text !== controlText);
const brief = (s: SentMessage) => [s.kind, s.target, s.msgType, s.content];

function recordingBot(seen: Message[]) {
  return defineBot((b) => {
    b.on('message', (ctx) => {
      seen.push(ctx.message);
      return ctx.reply(ctx.text || '(empty)');
    });
  });
}

describe('lark webhook: messages through the echo bot', () => {
  it.each(['p2p', 'group'] as const)('answers /ping, /echo and plain text in a %s chat as replies to each message', async (chatType) => {
    const { fake, deliver } = await larkWebhook();
    const bot = mention('@_user_1', { open_id: fake.botOpenId }, 'Switchboard');
    // In groups a bot only receives messages that @mention it.
    const at = chatType === 'group' ? { mentions: [bot] } : {};
    const prefix = chatType === 'group' ? '@_user_1 ' : '';
    const events = [textEvent(fake, `${prefix}/ping`, { chatType, ...at }), textEvent(fake, `${prefix}/echo hello there`, { chatType, ...at }), textEvent(fake, `${prefix}just text`, { chatType, ...at })];
    for (const event of events) {
      const res = await deliver(event);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({});
    }
    const sent = await sentCount(fake, 3);
    expect(sent.map(brief)).toEqual([
      ['reply', events[0]!.event.message.message_id, 'text', { text: 'pong' }],
      ['reply', events[1]!.event.message.message_id, 'text', { text: 'hello there' }],
      ['reply', events[2]!.event.message.message_id, 'text', { text: 'just text' }],
    ]);
    expect(sent[0]!.token).toMatch(/^t-/);
    expect(fake.tokenRequests).toBe(1); // fetched once, then cached by the SDK
  });

  // In a group an image reaches the bot inside a post that @mentions it (an image message cannot mention anyone).
  it.each(['p2p', 'group'] as const)('echoes an image in a %s chat: fetched through the message-resource API, uploaded, sent back', async (chatType) => {
    const { fake, deliver } = await larkWebhook();
    const event =
      chatType === 'p2p'
        ? messageEvent(fake, 'image', { image_key: 'img_v3_user_photo' })
        : messageEvent(fake, 'post', { title: '', content: [[{ tag: 'at', user_id: '@_user_1', user_name: 'Switchboard' }], [{ tag: 'img', image_key: 'img_v3_user_photo', width: 1, height: 1 }]] }, { chatType, mentions: [mention('@_user_1', { open_id: fake.botOpenId }, 'Switchboard')] });
    fake.addResource(event.event.message.message_id, 'img_v3_user_photo', 'image', png, 'image/png');
    await deliver(event);
    const [sent] = await sentCount(fake, 1);
    expect(fake.resourceRequests).toEqual([{ messageId: event.event.message.message_id, key: 'img_v3_user_photo', type: 'image' }]);
    expect(fake.uploads).toHaveLength(1);
    expect(fake.uploads[0]!.fields).toEqual({ image_type: 'message' });
    expect(fake.uploads[0]!.bytes.equals(png)).toBe(true);
    expect(brief(sent!)).toEqual(['reply', event.event.message.message_id, 'image', { image_key: fake.uploads[0]!.key }]);
  });

  it('resolves @_user_N placeholders to mentions, sets mentionsBot, and drops the leading @bot', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await larkWebhook({ bot: recordingBot(seen) });
    const mentions = [mention('@_user_1', { open_id: fake.botOpenId }, 'Switchboard'), mention('@_user_2', users.bob, 'Bob')];
    const addressed = textEvent(fake, '@_user_1 hello @_user_2 and @_all!', { chatType: 'group', mentions });
    const aside = textEvent(fake, 'psst @_user_1', { chatType: 'group', mentions: [mention('@_user_1', users.bob, 'Bob')], sender: 'alice' });
    await deliver(addressed);
    await deliver(aside);
    await sentCount(fake, 2);
    expect(seen[0]).toMatchObject({
      id: addressed.event.message.message_id,
      platform: 'lark',
      text: 'hello @Bob and @all!',
      mentionsBot: true,
      channel: { id: addressed.event.message.chat_id, type: 'group' },
      author: { id: users.alice.open_id, isBot: false },
    });
    expect(seen[0]!.content).toEqual([
      { type: 'text', text: 'hello ' },
      { type: 'mention', userId: users.bob.open_id, name: 'Bob' },
      { type: 'text', text: ' and ' },
      { type: 'mention', all: true },
      { type: 'text', text: '!' },
    ]);
    expect(seen[1]).toMatchObject({ text: 'psst @Bob', mentionsBot: false });
    // The raw payload travels on without the verification token.
    expect(JSON.stringify(seen[0]!.raw)).not.toContain(fake.verificationToken);
  });

  it('flattens a post (rich text) into text, mention, link and image segments', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await larkWebhook({ bot: recordingBot(seen) });
    const event = messageEvent(
      fake,
      'post',
      {
        title: 'Report',
        content: [
          [
            { tag: 'text', text: 'see ' },
            { tag: 'a', href: 'https://example.com/r', text: 'the doc' },
            { tag: 'text', text: ' by ' },
            { tag: 'at', user_id: '@_user_1', user_name: 'Bob' },
          ],
          [{ tag: 'img', image_key: 'img_v3_in_post', width: 1, height: 1 }],
        ],
      },
      { mentions: [mention('@_user_1', users.bob, 'Bob')] },
    );
    await deliver(event);
    await sentCount(fake, 1);
    const content = seen[0]!.content;
    expect(content.slice(0, 5)).toEqual([
      { type: 'text', text: 'Report\nsee ' },
      { type: 'link', url: 'https://example.com/r', text: 'the doc' },
      { type: 'text', text: ' by ' },
      { type: 'mention', userId: users.bob.open_id, name: 'Bob' },
      { type: 'text', text: '\n' },
    ]);
    expect(content[5]).toMatchObject({ type: 'image', url: expect.stringContaining('/media/') });
    expect(seen[0]!.text).toBe('Report\nsee the doc by @Bob\n');
  });

  it('fetches a file\'s bytes only when a handler asks for them (type=file)', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await larkWebhook({ bot: recordingBot(seen) });
    const event = messageEvent(fake, 'file', { file_key: 'file_v3_report', file_name: 'report.pdf' });
    const pdf = Buffer.from('%PDF-1.4 tiny');
    fake.addResource(event.event.message.message_id, 'file_v3_report', 'file', pdf, 'application/pdf');
    await deliver(event);
    await sentCount(fake, 1);
    expect(fake.resourceRequests).toEqual([]); // nothing fetched yet
    const file = seen[0]!.content[0] as { type: string; url: string; name: string };
    expect(file).toMatchObject({ type: 'file', name: 'report.pdf' });
    const res = await fetch(file.url);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(Buffer.from(await res.arrayBuffer()).equals(pdf)).toBe(true);
    expect(fake.resourceRequests).toEqual([{ messageId: event.event.message.message_id, key: 'file_v3_report', type: 'file' }]);
  });

  it('sends files through im.file.create, long text in several messages (only the first a reply), and buttons as a card', async () => {
    const long = `${'a'.repeat(3000)}\n${'b'.repeat(3000)}`;
    const bot = defineBot((b) =>
      b.on('message', (ctx) =>
        ctx.reply([
          { type: 'text', text: long },
          { type: 'file', data: Buffer.from('col1,col2\n'), name: 'data.csv', mime: 'text/csv' },
          { type: 'text', text: 'Pick one' },
          { type: 'buttons', rows: [[{ label: 'Yes', value: 'yes' }, { label: 'Docs', url: 'https://example.com/docs' }]] },
        ]),
      ),
    );
    const { fake, deliver } = await larkWebhook({ bot });
    const event = textEvent(fake, 'go');
    await deliver(event);
    const sent = await sentCount(fake, 4);
    const chat = event.event.message.chat_id;
    expect(sent.map((s) => [s.kind, s.target, s.msgType])).toEqual([
      ['reply', event.event.message.message_id, 'text'],
      ['create', chat, 'text'],
      ['create', chat, 'file'],
      ['create', chat, 'interactive'],
    ]);
    expect(sent[1]!.receiveIdType).toBe('chat_id');
    expect(sent.slice(0, 2).map((s) => s.content.text)).toEqual(['a'.repeat(3000), 'b'.repeat(3000)]);
    const upload = fake.uploads.find((u) => u.kind === 'file')!;
    expect(upload.fields).toEqual({ file_type: 'stream', file_name: 'data.csv' });
    expect(upload.bytes.toString()).toBe('col1,col2\n');
    expect(sent[2]!.content).toEqual({ file_key: upload.key });
    expect(sent[3]!.content).toEqual({
      config: { wide_screen_mode: true },
      elements: [
        { tag: 'div', text: { tag: 'plain_text', content: 'Pick one' } },
        {
          tag: 'action',
          actions: [
            { tag: 'button', text: { tag: 'plain_text', content: 'Yes' }, type: 'primary', value: { value: 'yes' } },
            { tag: 'button', text: { tag: 'plain_text', content: 'Docs' }, type: 'default', url: 'https://example.com/docs' },
          ],
        },
      ],
    });
  });

  it('a click on a card button reaches the bot as a message carrying the button value', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await larkWebhook({ bot: recordingBot(seen) });
    const res = await deliver(cardActionEvent(fake, { value: 'yes' }, { chatId: 'oc_group00000000000000000000000001', messageId: 'om_card0000000000000000000000001' }));
    expect(res.status).toBe(200);
    const [sent] = await sentCount(fake, 1);
    expect(seen[0]).toMatchObject({ text: 'yes', author: { id: users.alice.open_id }, channel: { id: 'oc_group00000000000000000000000001' } });
    // The answer is a reply to the card that was clicked.
    expect(brief(sent!)).toEqual(['reply', 'om_card0000000000000000000000001', 'text', { text: 'yes' }]);
  });

  it('a click in a direct chat the bot has seen is typed direct; two clicks on one card are two messages; no token travels in raw', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await larkWebhook({ bot: recordingBot(seen) });
    const p2p = 'oc_p2p0000000000000000000000000001';
    await deliver(textEvent(fake, 'hi', { chatId: p2p }));
    await sentCount(fake, 1);
    const card = 'om_card0000000000000000000000002';
    await deliver(cardActionEvent(fake, { value: 'a' }, { chatId: p2p, messageId: card }));
    await deliver(cardActionEvent(fake, { value: 'b' }, { chatId: p2p, messageId: card }));
    await sentCount(fake, 3);
    expect(seen.slice(1).map((m) => [m.text, m.channel.type])).toEqual([
      ['a', 'direct'],
      ['b', 'direct'],
    ]);
    const raw = JSON.stringify(seen.map((m) => m.raw));
    expect(raw).not.toContain(fake.verificationToken);
    expect(raw).not.toContain('c-card-update-token');
  });

  it('works without an Encrypt Key: plain events checked by the verification token', async () => {
    const { fake, deliver } = await larkWebhook({ encryptKey: null });
    expect((await deliver(textEvent(fake, '/ping'))).status).toBe(200);
    await sentCount(fake, 1);
    expect(fake.sent[0]!.content).toEqual({ text: 'pong' });
    expect((await deliver(textEvent(fake, '/ping', { token: 'forged-token' }))).status).toBe(401);
    expect(await sentBeforeControl(fake, deliver)).toHaveLength(1);
  });
});

describe('lark webhook: without an Encrypt Key', () => {
  it('refuses what shows no verification token (not JSON, encrypted, a wrong token) with the one 401, and acknowledges a tokened event it cannot read', async () => {
    const { fake, deliver, logs } = await larkWebhook({ encryptKey: null });
    const refused = [
      await deliver({}, { rawBody: '{"schema": ' }),
      await deliver({ encrypt: encrypt('some-key', '{}') }),
      await deliver(textEvent(fake, '/ping', { token: 'forged-token' })),
    ];
    expect(refused.map((r) => r.status)).toEqual([401, 401, 401]);
    expect(new Set(await Promise.all(refused.map((r) => r.text())))).toEqual(new Set([JSON.stringify({ error: 'verification failed' })]));
    // The token is ours, so Lark sent it: acknowledged, logged, not handled.
    const unreadable = await deliver({ schema: '2.0', header: { token: fake.verificationToken, event_type: 'im.message.receive_v1' }, event: null });
    expect(unreadable.status).toBe(200);
    expect(await unreadable.json()).toEqual({});
    expect(logs.find((l) => l.level === 50 && l.platform === 'lark')!.err).toMatchObject({ message: expect.stringMatching(/^not a Lark event/) });
    expect(await sentBeforeControl(fake, deliver)).toEqual([]);
  });
});

describe('lark webhook: Lark\'s 3-second deadline', () => {
  it('answers 200 at once while the handler is still working, and the reply follows when it is done', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const bot = defineBot((b) =>
      b.on('message', async (ctx) => {
        await gate;
        return ctx.reply('done');
      }),
    );
    const { fake, deliver } = await larkWebhook({ bot });
    const started = performance.now();
    const res = await deliver(textEvent(fake, 'slow work'));
    expect(res.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(1000);
    await sleep(50);
    expect(fake.sent).toEqual([]);
    release();
    const [sent] = await sentCount(fake, 1);
    expect(sent!.content).toEqual({ text: 'done' });
  });
});

describe('lark webhook: the URL verification challenge', () => {
  it('answers a signed, encrypted challenge; with an Encrypt Key it refuses one unsigned (plain or encrypted) or with a wrong token', async () => {
    const { fake, deliver } = await larkWebhook();
    const challenge = (token: string) => ({ challenge: 'ch-4f2a', token, type: 'url_verification' });
    const encrypted = await deliver(challenge(fake.verificationToken));
    expect(encrypted.status).toBe(200);
    expect(await encrypted.json()).toEqual({ challenge: 'ch-4f2a' });
    // Lark signs every request once an Encrypt Key is set, the URL check included.
    expect((await deliver(challenge(fake.verificationToken), { encrypt: false, signature: null })).status).toBe(401);
    expect((await deliver(challenge(fake.verificationToken), { signature: null })).status).toBe(401);
    expect((await deliver(challenge('not-our-token'))).status).toBe(401);
  });

  it('answers a plain challenge when no Encrypt Key is configured', async () => {
    const { fake, deliver } = await larkWebhook({ encryptKey: null });
    const res = await deliver({ challenge: 'plain-1', token: fake.verificationToken, type: 'url_verification' });
    expect(await res.json()).toEqual({ challenge: 'plain-1' });
  });
});

describe('lark webhook: refused requests', () => {
  it('answers 401 to a forged, missing, wrong-key or tampered signature, or a wrong token, and processes none', async () => {
    const seen: Message[] = [];
    const { fake, deliver, logs } = await larkWebhook({ bot: recordingBot(seen) });
    const event = textEvent(fake, '/ping');
    const otherBody = JSON.stringify({ encrypt: encrypt(fake.encryptKey!, JSON.stringify(textEvent(fake, 'other'))) });
    const attempts = [
      await deliver(event, { signature: 'ab'.repeat(32) }),
      await deliver(event, { signature: null }),
      await deliver(event, { signWith: 'some-other-encrypt-key' }),
      await deliver(event, { signature: 'not-hex' }),
      // signed for one body, sent with another
      await deliver(event, { rawBody: otherBody, signBody: JSON.stringify({ encrypt: encrypt(fake.encryptKey!, JSON.stringify(event)) }) }),
      await deliver(textEvent(fake, '/ping', { token: 'forged-token' })),
      await deliver(event, { encrypt: false, signature: null }),
    ];
    expect(attempts.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 401, 401]);
    // One answer for every reason; the reason is for the operator, in the log.
    expect(new Set(await Promise.all(attempts.map((r) => r.text())))).toEqual(new Set([JSON.stringify({ error: 'verification failed' })]));
    expect(logs.filter((l) => l.msg === 'Lark webhook request refused').map((l) => l.reason)).toEqual([
      'wrong signature',
      'missing X-Lark-Signature, X-Lark-Request-Timestamp or X-Lark-Request-Nonce',
      'wrong signature',
      'X-Lark-Signature is not a hex SHA-256 digest',
      'wrong signature',
      'header.token is not our verification token',
      'missing X-Lark-Signature, X-Lark-Request-Timestamp or X-Lark-Request-Nonce',
    ]);
    expect(await sentBeforeControl(fake, deliver)).toEqual([]);
    expect(notControl(seen)).toEqual([]);
    expect(JSON.stringify(logs)).not.toContain(fake.encryptKey!);
    expect(JSON.stringify(logs)).not.toContain(fake.verificationToken);
  });

  it('answers 401 to a correctly signed event whose timestamp is stale or in the future (a replay), and processes none', async () => {
    const seen: Message[] = [];
    const { fake, deliver, logs } = await larkWebhook({ bot: recordingBot(seen) });
    const now = Math.floor(Date.now() / 1000);
    const stale = await deliver(textEvent(fake, '/ping'), { timestamp: now - 10 * 60 });
    const future = await deliver(textEvent(fake, '/ping'), { timestamp: now + 10 * 60 });
    const garbage = await deliver(textEvent(fake, '/ping'), { headers: { 'x-lark-request-timestamp': 'yesterday' } });
    expect([stale.status, future.status, garbage.status]).toEqual([401, 401, 401]);
    expect(await stale.json()).toEqual({ error: 'verification failed' });
    expect(logs.find((l) => l.msg === 'Lark webhook request refused')!.reason).toBe('X-Lark-Request-Timestamp is too far from now (stale or replayed request)');
    // Within the window (a clock a minute off) it is taken.
    expect((await deliver(textEvent(fake, '/ping'), { timestamp: now - 60 })).status).toBe(200);
    await sentCount(fake, 1);
    expect(await sentBeforeControl(fake, deliver)).toHaveLength(1);
    expect(notControl(seen)).toHaveLength(1);
  });

  it('takes a signed event of any age when replayWindow is 0', async () => {
    const { fake, deliver } = await larkWebhook({ platformExtra: ', replayWindow: 0' });
    expect((await deliver(textEvent(fake, '/ping'), { timestamp: Math.floor(Date.now() / 1000) - 86_400 })).status).toBe(200);
    await sentCount(fake, 1);
  });

  it('acknowledges a signed body it cannot read (not JSON, bad padding, bad JSON inside, not an event), logged and processing none; 413 to an oversized one', async () => {
    // Signed, so Lark sent it: any other answer makes Lark send it again, and it would fail again.
    const { fake, deliver, logs } = await larkWebhook();
    const answers = [
      await deliver({}, { rawBody: '{"encrypt": ' }),
      await deliver({}, { rawBody: '[1,2]' }),
      await deliver({}, { rawBody: JSON.stringify({ encrypt: 'bm90IGEgY2lwaGVydGV4dA==' }) }),
      await deliver({}, { rawBody: JSON.stringify({ encrypt: badPadding(fake.encryptKey!) }) }),
      await deliver({}, { rawBody: JSON.stringify({ encrypt: encrypt(fake.encryptKey!, 'not json') }) }),
      await deliver({ hello: 'world', header: { token: fake.verificationToken } }),
      // A legacy 1.0 event (its token at the top): Lark's, but not a schema we read.
      await deliver({ uuid: 'u-1', token: fake.verificationToken, ts: '1', type: 'event_callback', event: { type: 'message' } }),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200, 200]);
    expect(await Promise.all(answers.map((r) => r.json()))).toEqual([{}, {}, {}, {}, {}, {}, {}]);
    expect(logs.filter((l) => l.level === 50 && l.platform === 'lark').map((l) => (l.err as { message: string }).message)).toEqual([
      'request body is not valid JSON',
      'request body is not a JSON object',
      'could not decrypt `encrypt` with the configured encryptKey',
      'could not decrypt `encrypt` with the configured encryptKey',
      'request body is not valid JSON',
      expect.stringMatching(/^not a Lark event/),
      expect.stringMatching(/^not a Lark event/),
    ]);
    // Too large to be read, and so to be checked: refused.
    expect((await deliver(textEvent(fake, 'x'.repeat(2 * 1024 * 1024)))).status).toBe(413);
    expect(await sentBeforeControl(fake, deliver)).toEqual([]);
  });

  it('decrypts nothing unsigned: a genuine ciphertext, bad padding and bad JSON inside, unsigned or wrongly signed, all get the one 401', async () => {
    // Answering bad padding apart from bad JSON before the signature is checked would be a padding oracle.
    const seen: Message[] = [];
    const { fake, deliver, logs } = await larkWebhook({ bot: recordingBot(seen) });
    const key = fake.encryptKey!;
    const bodies = [
      JSON.stringify({ encrypt: encrypt(key, JSON.stringify(textEvent(fake, '/ping'))) }),
      JSON.stringify({ encrypt: badPadding(key) }),
      JSON.stringify({ encrypt: encrypt(key, 'not json') }),
      JSON.stringify({ encrypt: encrypt(key, '[1]') }),
      '{"encrypt": ',
    ];
    const answers: Response[] = [];
    for (const rawBody of bodies) answers.push(await deliver({}, { rawBody, signature: null }), await deliver({}, { rawBody, signature: 'ab'.repeat(32) }));
    const seenAs = await Promise.all(answers.map(async (r) => `${r.status} ${r.headers.get('content-type')} ${await r.text()}`));
    expect(new Set(seenAs)).toEqual(new Set(['401 application/json; charset=utf-8 {"error":"verification failed"}']));
    const reasons = logs.filter((l) => l.msg === 'Lark webhook request refused').map((l) => l.reason);
    expect(new Set(reasons)).toEqual(new Set(['missing X-Lark-Signature, X-Lark-Request-Timestamp or X-Lark-Request-Nonce', 'wrong signature']));
    expect(await sentBeforeControl(fake, deliver)).toEqual([]);
    expect(notControl(seen)).toEqual([]);
  });
});

describe('lark webhook: at-least-once delivery', () => {
  it('handles a retried event (same event_id) and a re-sent message (new event_id, same message_id) once', async () => {
    const { fake, deliver } = await larkWebhook();
    const event = textEvent(fake, '/ping');
    const resent = textEvent(fake, '/ping', { messageId: event.event.message.message_id });
    expect(resent.header.event_id).not.toBe(event.header.event_id);
    for (const e of [event, event, resent]) expect((await deliver(e)).status).toBe(200);
    await sentCount(fake, 1);
    expect(await sentBeforeControl(fake, deliver)).toHaveLength(1);
  });
});

describe('lark webhook: restarts', () => {
  it('handles the same signed, encrypted event delivered before and after a restart once', async () => {
    const storePath = tempStorePath();
    const { fake, deliver } = await larkWebhook({ storePath });
    const event = textEvent(fake, '/ping');
    // Byte for byte the same request both times: Lark redelivers what it sent.
    const rawBody = JSON.stringify({ encrypt: encrypt(fake.encryptKey!, JSON.stringify(event)) });
    const timestamp = Math.floor(Date.now() / 1000);
    expect((await deliver(event, { rawBody, timestamp })).status).toBe(200);
    await sentCount(fake, 1);
    await runtime!.stop();
    const again = await startRuntime(`platforms:\n${platformLine(fake)}\n`, { storePath });
    runtime = again.runtime;
    const res = await fake.deliver(`${again.url}/webhooks/lark`, event, { rawBody, timestamp });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    // A later message is answered, so the redelivery had its chance to be answered too.
    await fake.deliver(`${again.url}/webhooks/lark`, textEvent(fake, 'after'));
    const sent = await sentCount(fake, 2);
    expect(sent.map((s) => s.content.text)).toEqual(['pong', 'after']);
    expect(sent[0]!.target).toBe(event.event.message.message_id);
  });
});

describe('lark webhook: when the event cannot be taken', () => {
  it('answers 503 with Retry-After when the store cannot record the event, and handles it once Lark delivers it again', async () => {
    const { fake, deliver, logs } = await larkWebhook();
    const { inbox } = runtime!.store;
    const admit = inbox.admit.bind(inbox);
    inbox.admit = () => Promise.reject(new Error('disk I/O error'));
    const event = textEvent(fake, '/ping');
    const refused = await deliver(event);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(logs.some((l) => l.msg === 'could not record an event; the platform is asked to deliver it again')).toBe(true);
    inbox.admit = admit;
    expect((await deliver(event)).status).toBe(200);
    await sentCount(fake, 1);
    expect((await deliver(event)).status).toBe(200);
    await deliver(textEvent(fake, 'after'));
    const sent = await sentCount(fake, 2);
    expect(sent.map((s) => s.content.text)).toEqual(['pong', 'after']);
  });
});

describe('lark: sends under the core retry policy', () => {
  it('a send whose answer is lost (5xx after Lark sent it) is tried again with the same uuid, and the chat sees one message', async () => {
    const { fake, deliver } = await larkWebhook({ yaml: quickDelivery });
    fake.sendFailures.push({ status: 502, msg: 'bad gateway', afterSending: true });
    const event = textEvent(fake, '/ping');
    await deliver(event);
    await waitFor(() => fake.sendRequests.length === 2, 3000, 'the second try');
    expect(fake.sendRequests.map((r) => r.status)).toEqual([502, 200]);
    const [first, second] = fake.sendRequests;
    expect(first!.uuid).toMatch(/^[\w-]{1,50}$/);
    expect(second!.uuid).toBe(first!.uuid);
    expect(fake.sent.map(brief)).toEqual([['reply', event.event.message.message_id, 'text', { text: 'pong' }]]);
    // Delivered: later messages are answered and nothing more comes of this one.
    await deliver(textEvent(fake, 'next'));
    await sentCount(fake, 2);
    expect(fake.sent.map((s) => s.content.text)).toEqual(['pong', 'next']);
  });

  it('a reply of several messages that fails halfway goes on from the failed one: no part twice, the first still a reply', async () => {
    const long = `${'a'.repeat(3000)}\n${'b'.repeat(3000)}`;
    const bot = defineBot((b) => b.on('message', (ctx) => ctx.reply(long)));
    const { fake, deliver } = await larkWebhook({ bot, yaml: quickDelivery });
    fake.sendFailures.push(null, { status: 503, msg: 'busy' });
    const event = textEvent(fake, 'go');
    await deliver(event);
    const sent = await sentCount(fake, 2);
    await waitFor(() => fake.sendRequests.length === 3, 3000, 'the retried part');
    expect(sent.map((s) => [s.kind, s.content.text[0]])).toEqual([
      ['reply', 'a'],
      ['create', 'b'],
    ]);
    const uuids = fake.sendRequests.map((r) => r.uuid);
    expect(uuids[0]).not.toBe(uuids[1]);
    expect(uuids[2]).toBe(uuids[1]);
  });

  it('a rate limit (429 with x-ogw-ratelimit-reset) is waited out, then the message is sent once', async () => {
    const { fake, deliver } = await larkWebhook({ yaml: quickDelivery });
    fake.sendFailures.push({ status: 429, code: 99991400, msg: 'request trigger frequency limit', headers: { 'x-ogw-ratelimit-reset': '1' } });
    await deliver(textEvent(fake, '/ping'));
    const [sent] = await sentCount(fake, 1);
    expect(sent!.content).toEqual({ text: 'pong' });
    const [limited, accepted] = fake.sendRequests;
    expect(accepted!.at - limited!.at).toBeGreaterThanOrEqual(1000);
    expect(fake.sendRequests).toHaveLength(2);
  });

  it('a send Lark keeps refusing with 5xx is kept as a dead letter once the policy gives up', async () => {
    const { fake, deliver, logs } = await larkWebhook({ yaml: quickDelivery });
    fake.sendFailures.push(...Array.from({ length: 10 }, () => ({ status: 503, msg: 'service unavailable' })));
    await deliver(textEvent(fake, '/ping'));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'), 3000, 'the dead letter');
    expect(line).toMatchObject({ deadLetter: true, err: expect.stringMatching(/service unavailable.*HTTP 503/) });
    expect(fake.sendRequests).toHaveLength(3); // delivery.attempts
    expect(fake.sent).toEqual([]);
    const dead = await runtime!.store.outbox.list('dead');
    expect(dead.map((d) => d.error)).toEqual([line.err]);
  });
});

describe('lark: tenant access tokens', () => {
  it('fetches a new token when Lark refuses the cached one, and the reply arrives once', async () => {
    const { fake, deliver } = await larkWebhook();
    await deliver(textEvent(fake, 'first'));
    await sentCount(fake, 1);
    fake.expireTokens();
    await deliver(textEvent(fake, 'second'));
    await sentCount(fake, 2);
    expect(fake.sent.map((s) => s.content.text)).toEqual(['first', 'second']);
    expect(fake.tokenRequests).toBe(2);
    expect(fake.sent[1]!.token).not.toBe(fake.sent[0]!.token);
    expect(fake.calls.filter((c) => c.status === 400)).toHaveLength(1);
    // The refused try never reached the send: one send request per message.
    expect(fake.sendRequests.map((r) => r.status)).toEqual([200, 200]);
  });

  it('reports a refused send in the delivery with Lark\'s code, never the secret', async () => {
    const bot = defineBot((b) => b.on('message', (ctx) => ctx.send({ botId: 'lark', channelId: 'oc_not_a_chat_of_ours' }, 'hi')));
    const { fake, deliver, logs } = await larkWebhook({ bot });
    await deliver(textEvent(fake, 'x'));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
    expect(line.err).toMatch(/code 230002/);
    // Trying again cannot help: one try, kept as a dead letter at once.
    expect(fake.sendRequests).toHaveLength(1);
    expect((await runtime!.store.outbox.list('dead')).map((d) => d.error)).toEqual([line.err]);
    expect(JSON.stringify(logs)).not.toContain(fake.appSecret);
  });
});

describe('lark: open API timeouts', () => {
  it('a send that Lark never answers times out and is tried again: the reply arrives once, and the chat is not held up', async () => {
    const fake = await newFake();
    const quick = defineAdapter({ type: 'lark', configSchema: larkConfig, create: (config) => new LarkAdapter(config, { ...defaultTimings, apiTimeoutMs: 300 }) });
    const started = await startRuntime(`platforms:\n${platformLine(fake)}\n${quickDelivery}`, { definitions: [...definitions.filter((d) => d.type !== 'lark'), quick] });
    runtime = started.runtime;
    const hook = `${started.url}/webhooks/lark`;
    fake.stalls.push(/\/reply$/);
    await fake.deliver(hook, textEvent(fake, 'first'));
    const [first] = await sentCount(fake, 1);
    expect(first!.content).toEqual({ text: 'first' });
    const retried = started.logs.find((l) => l.msg === 'delivery failed; trying again');
    expect(retried?.err).toMatch(/timeout/);
    await fake.deliver(hook, textEvent(fake, 'second'));
    const sent = await sentCount(fake, 2);
    expect(sent.map((s) => s.content.text)).toEqual(['first', 'second']);
  });

  it('a resource download that stalls mid-body fails after the timeout, logged with what failed and without the token', async () => {
    const fake = await newFake();
    const quick = defineAdapter({ type: 'lark', configSchema: larkConfig, create: (config) => new LarkAdapter(config, { ...defaultTimings, apiTimeoutMs: 300 }) });
    const seen: Message[] = [];
    const started = await startRuntime(`platforms:\n${platformLine(fake)}\n`, { bot: recordingBot(seen), definitions: [...definitions.filter((d) => d.type !== 'lark'), quick] });
    runtime = started.runtime;
    const event = messageEvent(fake, 'file', { file_key: 'file_v3_big', file_name: 'big.bin' });
    fake.addResource(event.event.message.message_id, 'file_v3_big', 'file', Buffer.alloc(64 * 1024, 1), 'application/octet-stream', { stall: true });
    await fake.deliver(`${started.url}/webhooks/lark`, event);
    const [sent] = await sentCount(fake, 1);
    const res = await fetch((seen[0]!.content[0] as { url: string }).url);
    expect(res.status).toBe(502);
    // The operator reads what failed (a dropped body is otherwise taken for a client gone away, and not logged).
    const line = await waitFor(() => started.logs.find((l) => l.msg === 'could not fetch media from its platform'), 2000, 'the error line');
    expect(String(line.err)).toMatch(/message resource.*aborted/);
    expect(JSON.stringify(started.logs)).not.toContain(sent!.token);
    expect(JSON.stringify(started.logs)).not.toContain(fake.appSecret);
  });
});

describe('lark: one token cache per adapter instance', () => {
  it('two bots with the same App ID on different hosts each fetch and use their own token', async () => {
    const a = await newFake();
    const b = await newFake({ appId: a.appId });
    const started = await startRuntime(`platforms:\n${platformLine(a, 'one')}\n${platformLine(b, 'two')}\n`);
    runtime = started.runtime;
    await a.deliver(`${started.url}/webhooks/one`, textEvent(a, '/ping'));
    await sentCount(a, 1);
    await b.deliver(`${started.url}/webhooks/two`, textEvent(b, '/ping'));
    await sentCount(b, 1);
    expect([a.tokenRequests, b.tokenRequests]).toEqual([1, 1]);
    // Neither ever sent the other's token (a shared cache would, then recover through a refusal).
    expect([...a.calls, ...b.calls].filter((c) => c.status !== 200)).toEqual([]);
  });
});

describe('lark: lifecycle callbacks', () => {
  it('an onMessage 403 with text blocks a user: they get the text, the bot never answers', async () => {
    const hooks = await new CallbackServer().start();
    try {
      hooks.on('onMessage', (ctx, body) => {
        if (body.message.author.id !== users.bob.open_id) return void (ctx.status = 204);
        ctx.status = 403;
        ctx.body = 'You are blocked.';
      });
      const { fake, deliver } = await larkWebhook({ yaml: `callbacks:\n  onMessage: ${hooks.url}/onMessage\n` });
      const blocked = textEvent(fake, '/ping', { sender: 'bob' });
      await deliver(blocked);
      await sentCount(fake, 1);
      await deliver(textEvent(fake, '/ping'));
      const sent = await sentCount(fake, 2);
      expect(sent.map((s) => [s.target, s.content.text])).toEqual([
        [blocked.event.message.chat_id, 'You are blocked.'],
        [expect.stringMatching(/^om_/), 'pong'],
      ]);
      expect(hooks.received.some((r) => r.raw.includes(fake.verificationToken) || r.raw.includes(fake.appSecret))).toBe(false);
    } finally {
      await hooks.stop();
    }
  });
});
