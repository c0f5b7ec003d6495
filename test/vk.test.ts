// VK end to end: callbacks posted as VK posts them -> the echo bot -> the messages.send calls,
// uploads and callback settings that reached the fake VK API; plus every way a callback can be wrong.

import { afterEach, describe, expect, it } from 'vitest';
import { VkAdapter } from '../adapters/vk/index.js';
import { vkConfig } from '../adapters/vk/schema.js';
import { defineAdapter, type AdapterDefinition } from '../src/adapter.js';
import { defineBot, type Bot } from '../src/bot.js';
import type { Message } from '../src/message.js';
import { definitions } from '../src/registry.js';
import type { Runtime } from '../src/runtime.js';
import { CallbackServer } from './fakes/callback-server.js';
import { callback, FakeVK, messageNew, type FakeCommunity } from './fakes/vk.js';
import { sleep, startRuntime, waitFor, type LogLine } from './helpers.js';

const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ee9c8a9b0000000049454e44ae426082', 'hex');

const alpha: FakeCommunity = { groupId: 123456, token: `vk1.a.${'A1'.repeat(40)}`, confirmation: 'a1b2c3d4', secret: 'alphaSecret1' };
const beta: FakeCommunity = { groupId: 654321, token: `vk1.a.${'B2'.repeat(40)}`, confirmation: 'ffee0099', secret: 'betaSecret2' };

/** The real adapter with short retry waits, so throttling tests take milliseconds. */
const fastVk = defineAdapter({ type: 'vk', configSchema: vkConfig, create: (config) => new VkAdapter(config, { retryBaseMs: 20, maxAttempts: 4 }) });

let runtime: Runtime | undefined;
let fake: FakeVK | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  runtime = fake = undefined;
});

async function vk(options: { bot?: Bot; extra?: string; platformExtra?: string; communityExtra?: string } = {}) {
  const f = (fake = await new FakeVK([alpha, beta]).start());
  const community = (c: FakeCommunity) => `      - { groupId: ${c.groupId}, token: "${c.token}", confirmation: "${c.confirmation}", secret: "${c.secret}"${options.communityExtra ?? ''} }\n`;
  const yaml = `${options.extra ?? ''}platforms:\n  - id: vk\n    type: vk\n    apiRoot: ${f.apiRoot}\n${options.platformExtra ?? ''}    communities:\n${community(alpha)}${community(beta)}`;
  const started = await startRuntime(yaml, { bot: options.bot, definitions: [...definitions.filter((d) => d.type !== 'vk'), fastVk as unknown as AdapterDefinition] });
  runtime = started.runtime;
  const hook = `${started.url}/webhooks/vk`;
  return { fake: f, url: started.url, hook, logs: started.logs, deliver: (body: object, opts?: Parameters<FakeVK['deliver']>[2]) => f.deliver(hook, body, opts) };
}

const sentCount = (f: FakeVK, n: number) => waitFor(() => f.sent.length >= n && f.sent, 4000, `${n} messages at the fake`);

function recordingBot(seen: Message[]) {
  return defineBot((b) => {
    b.on('message', (ctx) => {
      seen.push(ctx.message);
      // Back what was said, mentions included (quotes are the reply's own business).
      const said = ctx.message.content.filter((s) => s.type !== 'quote');
      if (said.length > 0) ctx.reply(said);
    });
  });
}

const secretsIn = (logs: LogLine[]) => JSON.stringify(logs).match(/vk1\.a\.|alphaSecret1|betaSecret2/g);

describe('vk: the callback handshake and refused requests', () => {
  it('answers the confirmation of each community on one URL with that community\'s string', async () => {
    const { deliver } = await vk();
    for (const c of [alpha, beta]) {
      const res = await deliver({ type: 'confirmation', group_id: c.groupId, secret: c.secret });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await res.text()).toBe(c.confirmation);
    }
  });

  it('refuses a wrong or missing secret (401) and an unknown group (403), processing none of them', async () => {
    const seen: Message[] = [];
    const { fake, deliver, logs } = await vk({ bot: recordingBot(seen) });
    const good = await deliver(messageNew(alpha, 'genuine'));
    expect(good.status).toBe(200); // the control: a genuine one is taken
    await sentCount(fake, 1);
    const attempts = [
      await deliver(callback(alpha, 'message_new', (messageNew(alpha, 'x') as { object: object }).object, { secret: 'betaSecret2' })),
      await deliver(callback(alpha, 'message_new', (messageNew(alpha, 'x') as { object: object }).object, { secret: null })),
      await deliver({ type: 'confirmation', group_id: alpha.groupId, secret: 'nope' }),
      await deliver({ ...messageNew(alpha, 'x'), group_id: 999 }),
      await deliver({ type: 'confirmation', group_id: '123456', secret: alpha.secret }),
    ];
    expect(attempts.map((r) => r.status)).toEqual([401, 401, 401, 403, 403]);
    expect(await attempts[0]!.text()).toBe('wrong or missing secret');
    expect(await attempts[3]!.text()).toBe('unknown group_id');
    expect(await attempts[2]!.text()).not.toContain(alpha.confirmation);
    await sleep(150);
    expect(seen.map((m) => m.text)).toEqual(['genuine']);
    expect(fake.sent).toHaveLength(1);
    expect(logs.filter((l) => l.msg === 'VK callback refused')).toHaveLength(5);
    // The refused confirmation tells the operator what to fix.
    expect(logs.filter((l) => l.msg === 'VK callback refused' && l.hint).map((l) => l.hint)).toEqual([expect.stringMatching(/same secret key as `secret` on the Callback API page/)]);
    expect(secretsIn(logs)).toBeNull();
  });

  it('answers 400 to a body that is not JSON or not a callback, and 413 to one over the body limit', async () => {
    const { fake, deliver } = await vk({ extra: 'server:\n  port: 0\n  bodyLimit: 64kb\n' });
    const bad = await deliver({}, { rawBody: '{"type": "message_new", "object": ' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toBe('request body is not valid JSON');
    expect((await deliver({ hello: 'world' })).status).toBe(400);
    expect((await deliver(messageNew(alpha, 'x'.repeat(70_000)))).status).toBe(413);
    await sleep(100);
    expect(fake.sent).toEqual([]);
  });

  it('answers 503 with Retry-After while shutting down, so VK delivers the event again later', async () => {
    const { deliver } = await vk();
    runtime!.pipeline.close(); // what Runtime.stop does first
    const res = await deliver(messageNew(alpha, '/ping'));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('10');
  });

  it('answers 503 with Retry-After when the store cannot take the event (never a bare 500), and takes it when VK comes back', async () => {
    const seen: Message[] = [];
    const { fake, deliver, logs } = await vk({ bot: recordingBot(seen) });
    const store = runtime!.store;
    const claim = store.claim.bind(store);
    store.claim = () => Promise.reject(new Error('redis: connection refused'));
    const event = messageNew(alpha, 'later');
    const res = await deliver(event);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('10');
    expect(logs.find((l) => l.msg === 'VK event not taken; VK will deliver it again')).toMatchObject({ err: 'redis: connection refused' });
    store.claim = claim;
    expect(await (await deliver(event, { retry: 1 })).text()).toBe('ok');
    await sentCount(fake, 1);
    expect(seen.map((m) => m.text)).toEqual(['later']);
  });
});

describe('vk: messages', () => {
  it('echoes a dialog message: "ok" at once, then messages.send to the peer with a reply_to and a random_id', async () => {
    const { fake, deliver } = await vk();
    const event = messageNew(alpha, '/echo hello [club1|there]', { fromId: 42 });
    const res = await deliver(event);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    const [sent] = await sentCount(fake, 1);
    const msg = (event.object as { message: { id: number } }).message;
    expect(sent).toMatchObject({ groupId: alpha.groupId, peerId: 42, params: { peer_id: '42', message: 'hello @there', reply_to: String(msg.id), v: '5.199' } });
    expect(sent!.randomId).toBeGreaterThan(0);
    expect(sent!.randomId).toBeLessThan(2 ** 31);
    expect(sent!.params.forward).toBeUndefined();
  });

  it('answers in a chat through the right community, quoting with forward (conversation_message_id), the bot mention stripped', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await vk({ bot: recordingBot(seen) });
    const event = messageNew(beta, `[club${beta.groupId}|@switchboard], hi [id7|Ann] and @all`, { peerId: 2_000_000_005, fromId: 7 });
    await deliver(event);
    const [sent] = await sentCount(fake, 1);
    const cmid = (event.object as { message: { conversation_message_id: number } }).message.conversation_message_id;
    expect(seen[0]).toMatchObject({ id: `c${cmid}`, platform: 'vk', channel: { id: `${beta.groupId}:2000000005`, type: 'group' }, author: { id: '7', isBot: false }, mentionsBot: true, text: 'hi @Ann and @all' });
    expect(seen[0]!.content).toEqual([{ type: 'text', text: 'hi ' }, { type: 'mention', userId: '7', name: 'Ann' }, { type: 'text', text: ' and ' }, { type: 'mention', all: true }]);
    expect(sent).toMatchObject({ groupId: beta.groupId, peerId: 2_000_000_005, params: { message: 'hi [id7|Ann] and @all' } });
    expect(JSON.parse(sent!.params.forward!)).toEqual({ peer_id: 2_000_000_005, conversation_message_ids: [cmid], is_reply: true });
    expect(sent!.params.reply_to).toBeUndefined();
  });

  it('reads @club<id>, a reply and forwarded messages as quotes, and a pressed button\'s payload as the text', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await vk({ bot: recordingBot(seen) });
    const original = { id: 77, conversation_message_id: 3, from_id: -alpha.groupId, peer_id: 42, text: 'earlier', date: 1 };
    await deliver(messageNew(alpha, `@club${alpha.groupId} look`, { fromId: 42, reply_message: original, fwd_messages: [{ id: 0, conversation_message_id: 9, from_id: 5, text: 'fwd', date: 1 }] }));
    await deliver(messageNew(alpha, 'Yes', { fromId: 42, payload: '{"value":"/ping"}' }));
    await sentCount(fake, 2);
    expect(seen[0]).toMatchObject({ text: 'look', replyTo: '77', mentionsBot: true });
    expect(seen[0]!.content.slice(0, 2)).toEqual([{ type: 'quote', messageId: '77' }, { type: 'quote', messageId: 'c9' }]);
    expect(seen[1]!.text).toBe('/ping');
  });

  it('reads message_new from a server left on an API version before 5.103 (the message is the object itself), warning once', async () => {
    const { fake, deliver, logs } = await vk();
    const current = messageNew(alpha, 'old format', { fromId: 42 }) as { object: { message: object } };
    const old = { ...current, v: '5.92', object: current.object.message };
    expect(await (await deliver(old)).text()).toBe('ok');
    const [sent] = await sentCount(fake, 1);
    expect(sent).toMatchObject({ peerId: 42, params: { message: 'old format' } });
    expect(logs.filter((l) => /sends callbacks in API version 5\.92/.test(l.msg))).toHaveLength(1);
  });

  it('handles a retried event (same event_id, X-Retry-Counter) once', async () => {
    const seen: Message[] = [];
    const { fake, deliver } = await vk({ bot: recordingBot(seen) });
    const event = messageNew(alpha, 'once');
    expect(await (await deliver(event)).text()).toBe('ok');
    const retried = await deliver(event, { retry: 1 });
    expect(retried.status).toBe(200);
    expect(await retried.text()).toBe('ok');
    await sentCount(fake, 1);
    await sleep(200);
    expect(seen).toHaveLength(1);
    expect(fake.sent.map((s) => s.params.message)).toEqual(['once']);
  });

  it('echoes a photo through the upload flow: getMessagesUploadServer, multipart "photo", saveMessagesPhoto, attachment', async () => {
    const { fake, deliver } = await vk();
    const cdn = fake.addFile('p.png', png, 'image/png');
    const photo = { type: 'photo', photo: { id: 1, owner_id: 42, access_key: 'k', sizes: [{ type: 's', width: 75, height: 75, url: `${cdn}?size=s` }, { type: 'x', width: 604, height: 604, url: cdn }, { type: 'm', width: 130, height: 130, url: `${cdn}?size=m` }] } };
    await deliver(messageNew(alpha, '', { fromId: 42, attachments: [photo] }));
    const [sent] = await sentCount(fake, 1);
    expect(fake.calls.map((c) => c.method)).toEqual(['photos.getMessagesUploadServer', 'photos.saveMessagesPhoto', 'messages.send']);
    expect(sent!.params.attachment).toMatch(/^photo-123456_\d+_[0-9a-f]+$/);
    expect(sent!.params.message).toBeUndefined();
    expect(sent!.attachments).toHaveLength(1);
    expect(sent!.attachments[0]!.data.equals(png)).toBe(true);
  });

  it('sends an image VK refuses as a photo as a document instead', async () => {
    const bot = defineBot((b) => b.on('message', (ctx) => ctx.reply([{ type: 'text', text: 'Your chart:' }, { type: 'image', data: png, mime: 'image/png', name: 'chart.png' }], { quote: false })));
    const { fake, deliver, logs } = await vk({ bot });
    fake.failNextUpload('ERR_UPLOAD_BAD_IMAGE_SIZE: photo dimensions are too large');
    await deliver(messageNew(alpha, 'chart', { fromId: 42 }));
    const [sent] = await sentCount(fake, 1);
    expect(sent!.params.message).toBe('Your chart:');
    expect(sent!.params.attachment).toMatch(/^doc-123456_\d+$/);
    expect(sent!.attachments[0]).toMatchObject({ kind: 'doc', name: 'chart.png' });
    expect(sent!.attachments[0]!.data.equals(png)).toBe(true);
    await sleep(50);
    expect(logs.some((l) => l.msg === 'delivery failed')).toBe(false);
  });

  it('still sends the text when an upload is refused or cut off, and reports which file failed and why', async () => {
    const bot = defineBot((b) =>
      b.on('message', (ctx) => ctx.reply([{ type: 'text', text: 'Your chart:' }, { type: 'image', data: png, mime: 'image/png', name: 'chart.png' }], { quote: false })),
    );
    const { fake, deliver, logs } = await vk({ bot });
    // Refused as a photo, then as a document too.
    fake.failNextUpload('ERR_UPLOAD_FILE_INVALID: photo is too small');
    fake.failNextUpload('ERR_UPLOAD_FILE_INVALID: no');
    await deliver(messageNew(alpha, 'chart', { fromId: 42 }));
    const [sent] = await sentCount(fake, 1);
    expect(sent!.params).toMatchObject({ message: 'Your chart:' });
    expect(sent!.params.attachment).toBeUndefined();
    const refused = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
    expect(refused.err).toBe('VK upload of chart.png failed: ERR_UPLOAD_FILE_INVALID: photo is too small');
    fake.failNextUpload('drop');
    fake.failNextUpload('drop');
    await deliver(messageNew(alpha, 'chart', { fromId: 42 }));
    await sentCount(fake, 2);
    const cut = await waitFor(() => logs.filter((l) => l.msg === 'delivery failed')[1]);
    expect(cut.err).toMatch(/^VK upload of chart\.png failed: /);
    expect(secretsIn(logs)).toBeNull();
  });

  it('exposes an inbound photo (largest size) and document as Switchboard media URLs, and sends a document back through docs.save', async () => {
    const seen: Message[] = [];
    const pdf = Buffer.from('%PDF-1.4 fake');
    const bot = defineBot((b) => b.on('message', (ctx) => { seen.push(ctx.message); ctx.reply({ type: 'file', data: pdf, mime: 'application/pdf', name: 'report.pdf' }); }));
    const { fake, deliver, url } = await vk({ bot });
    const big = fake.addFile('big.jpg', Buffer.from('big'), 'image/jpeg');
    const small = fake.addFile('small.jpg', Buffer.from('small'), 'image/jpeg');
    const doc = fake.addFile('a.txt', Buffer.from('hello doc'), 'text/plain');
    const attachments = [
      { type: 'photo', photo: { id: 1, owner_id: 42, sizes: [{ type: 's', width: 10, height: 10, url: small }, { type: 'w', width: 2560, height: 1440, url: big }] } },
      { type: 'doc', doc: { id: 2, owner_id: 42, title: 'a.txt', ext: 'txt', url: doc, size: 9 } },
      { type: 'wall', wall: { id: 3 } },
    ];
    await deliver(messageNew(alpha, 'files', { fromId: 42, attachments }));
    const [sent] = await sentCount(fake, 1);
    const [, image, file, unknown] = seen[0]!.content as { type: string; url?: string; name?: string; mime?: string }[];
    expect(image).toMatchObject({ type: 'image', mime: 'image/jpeg' });
    expect(file).toMatchObject({ type: 'file', name: 'a.txt', mime: 'text/plain' });
    expect(unknown!.type).toBe('unknown');
    for (const [segment, bytes] of [[image, 'big'], [file, 'hello doc']] as const) {
      expect(segment!.url!.startsWith(`${url}/media/`)).toBe(true);
      expect(await (await fetch(segment!.url!)).text()).toBe(bytes);
    }
    expect(fake.calls.map((c) => c.method)).toEqual(['docs.getMessagesUploadServer', 'docs.save', 'messages.send']);
    expect(fake.calls[0]!.params).toMatchObject({ peer_id: '42', type: 'doc' });
    expect(sent!.params.attachment).toMatch(/^doc-123456_\d+$/);
    expect(sent!.attachments[0]).toMatchObject({ kind: 'doc', name: 'report.pdf', mime: 'application/pdf' });
    expect(sent!.attachments[0]!.data.equals(pdf)).toBe(true);
  });

  it('splits long text at 4096 and sends buttons as an inline keyboard on the last message', async () => {
    const long = `${'a'.repeat(4000)}\n${'b'.repeat(500)}`;
    const bot = defineBot((b) => b.on('message', (ctx) => ctx.reply([{ type: 'text', text: long }, { type: 'buttons', rows: [[{ label: 'Yes', value: 'yes' }, { label: 'Docs', url: 'https://example.com/docs' }]] }], { quote: false })));
    const { fake, deliver } = await vk({ bot });
    await deliver(messageNew(alpha, 'go', { fromId: 42 }));
    const sent = await sentCount(fake, 2);
    expect(sent.map((s) => s.params.message)).toEqual(['a'.repeat(4000), 'b'.repeat(500)]);
    expect(sent[0]!.params.keyboard).toBeUndefined();
    expect(JSON.parse(sent[1]!.params.keyboard!)).toEqual({
      inline: true,
      buttons: [[{ action: { type: 'text', label: 'Yes', payload: '{"value":"yes"}' }, color: 'secondary' }, { action: { type: 'open_link', link: 'https://example.com/docs', label: 'Docs' } }]],
    });
    expect(new Set(sent.map((s) => s.randomId)).size).toBe(2);
  });

  it('shows the buttons as numbered text when VK refuses the keyboard (bot abilities off: error 912), telling the operator once', async () => {
    const bot = defineBot((b) => b.on('message', (ctx) => ctx.reply([{ type: 'text', text: 'Pick one' }, { type: 'buttons', rows: [[{ label: 'Yes', value: 'yes' }, { label: 'No', value: 'no' }]] }], { quote: false })));
    const { fake, deliver, logs } = await vk({ bot });
    fake.botAbilities = false;
    await deliver(messageNew(alpha, 'go', { fromId: 42 }));
    await deliver(messageNew(alpha, 'again', { fromId: 42 }));
    const sent = await sentCount(fake, 2);
    for (const s of sent) {
      expect(s.params.message).toBe('Pick one\n1. Yes — send "yes"\n2. No — send "no"');
      expect(s.params.keyboard).toBeUndefined();
    }
    expect(logs.some((l) => l.msg === 'delivery failed')).toBe(false);
    expect(logs.filter((l) => /Bot abilities/.test(l.msg)).map((l) => l.groupId)).toEqual([alpha.groupId]);
  });
});

describe('vk: other events', () => {
  it('hands message_allow to the bot\'s event handlers once, and what a handler sends reaches the user', async () => {
    const events: { type: string; author?: string; data: unknown }[] = [];
    const bot = defineBot((b) =>
      b.on('event', (ctx) => {
        events.push({ type: ctx.event.type, author: ctx.event.author?.id, data: ctx.event.data });
        ctx.send({ botId: 'vk', channelId: `${alpha.groupId}:${ctx.event.author!.id}` }, 'Welcome!');
      }),
    );
    const { fake, deliver } = await vk({ bot });
    const event = callback(alpha, 'message_allow', { user_id: 42, key: 'landing' });
    expect(await (await deliver(event)).text()).toBe('ok');
    expect(await (await deliver(event, { retry: 1 })).text()).toBe('ok');
    const [sent] = await sentCount(fake, 1);
    expect(sent).toMatchObject({ peerId: 42, params: { message: 'Welcome!' } });
    await sleep(100);
    expect(events).toEqual([{ type: 'message_allow', author: '42', data: { user_id: 42, key: 'landing' } }]);
  });
});

describe('vk: sending that survives VK', () => {
  it('waits out errors 6 (too many requests per second) and 9 (flood control), and the reply still arrives', async () => {
    const { fake, deliver, logs } = await vk();
    fake.failNext('messages.send', 6);
    fake.failNext('messages.send', 9);
    await deliver(messageNew(alpha, '/ping'));
    const [sent] = await sentCount(fake, 1);
    expect(sent!.params.message).toBe('pong');
    const attempts = fake.calls.filter((c) => c.method === 'messages.send');
    expect(attempts.map((c) => c.error)).toEqual([6, 9, undefined]);
    expect(new Set(attempts.map((c) => c.params.random_id)).size).toBe(1);
    expect(logs.some((l) => l.msg === 'delivery failed')).toBe(false);
  });

  it('resends with the same random_id when the answer is lost, so VK does not show the message twice', async () => {
    const { fake, deliver } = await vk();
    fake.loseNextSendAnswer();
    await deliver(messageNew(alpha, '/ping'));
    await waitFor(() => fake.calls.filter((c) => c.method === 'messages.send').length >= 2, 4000, 'a resend');
    await sleep(100);
    const attempts = fake.calls.filter((c) => c.method === 'messages.send');
    expect(attempts[0]!.params.random_id).toBe(attempts[1]!.params.random_id);
    expect(fake.sent.map((s) => s.params.message)).toEqual(['pong']);
  });

  it('gives up after maxAttempts on an error that persists (10), reporting it, instead of retrying forever', async () => {
    const { fake, deliver, logs } = await vk();
    fake.failNext('messages.send', 10, 10);
    await deliver(messageNew(alpha, '/ping'));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'), 4000);
    expect(line.err).toBe('VK messages.send failed: Internal server error (error 10)');
    expect(fake.calls.filter((c) => c.method === 'messages.send').map((c) => c.error)).toEqual([10, 10, 10, 10]);
    expect(fake.sent).toEqual([]);
  });

  it('shows two identical replies to one message as two messages: each item of the reply sequence has its own random_id', async () => {
    const bot = defineBot((b) => b.on('message', (ctx) => { ctx.reply('Done.', { quote: false }); ctx.reply('Done.', { quote: false }); }));
    const { fake, deliver } = await vk({ bot });
    await deliver(messageNew(alpha, 'two things', { fromId: 42 }));
    const sent = await sentCount(fake, 2);
    expect(sent.map((s) => s.params.message)).toEqual(['Done.', 'Done.']);
    expect(new Set(sent.map((s) => s.randomId)).size).toBe(2);
    expect(sent.every((s) => s.randomId > 0 && s.randomId < 2 ** 31)).toBe(true);
  });

  it('reports a refused send in the delivery with VK\'s code, never the token', async () => {
    const { fake, deliver, logs } = await vk();
    fake.failNext('messages.send', 901, 1);
    await deliver(messageNew(alpha, 'late'));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
    expect(line.err).toBe("VK messages.send failed: Can't send messages for users without permission (error 901)");
    expect(secretsIn(logs)).toBeNull();
  });
});

describe('vk: autoSetup', () => {
  it('registers our callback server (confirmed by VK) and its events on every community, and reuses it on the next start', async () => {
    const { fake, url, logs } = await vk({ platformExtra: '    autoSetup: true\n' });
    const hook = `${url}/webhooks/vk`;
    expect(fake.servers.map((s) => [s.groupId, s.url, s.title, s.secret_key, s.status])).toEqual([
      [alpha.groupId, hook, 'Switchboard', alpha.secret, 'ok'],
      [beta.groupId, hook, 'Switchboard', beta.secret, 'ok'],
    ]);
    expect(fake.confirmations.map((c) => c.body)).toEqual([alpha.confirmation, beta.confirmation]);
    expect(fake.servers[0]!.settings).toEqual({ api_version: '5.199', message_new: '1', message_event: '1', message_allow: '1', message_deny: '1' });
    await runtime!.restartPlatform('vk');
    expect(fake.servers).toHaveLength(2);
    expect(fake.calls.filter((c) => c.method === 'groups.editCallbackServer').map((c) => c.params.group_id)).toEqual([String(alpha.groupId), String(beta.groupId)]);
    expect(logs.filter((l) => l.msg === 'VK callback server registered')).toHaveLength(2);
    expect(secretsIn(logs)).toBeNull();
  });

  it('asks VK for the confirmation string when none is configured, and replaces a server VK marks as failing', async () => {
    const f = (fake = await new FakeVK([alpha, beta]).start());
    const yaml = `platforms:\n  - id: vk\n    type: vk\n    apiRoot: ${f.apiRoot}\n    autoSetup: true\n    communities:\n      - { groupId: ${alpha.groupId}, token: "${alpha.token}", secret: "${alpha.secret}" }\n      - { groupId: ${beta.groupId}, token: "${beta.token}", confirmation: "stale0", secret: "${beta.secret}" }\n`;
    const started = await startRuntime(yaml, { definitions: [...definitions.filter((d) => d.type !== 'vk'), fastVk as unknown as AdapterDefinition] });
    runtime = started.runtime;
    expect(f.servers.map((s) => [s.groupId, s.status])).toEqual([[alpha.groupId, 'ok'], [beta.groupId, 'ok']]);
    expect(started.logs.filter((l) => /differs from the one VK gives/.test(l.msg)).map((l) => l.groupId)).toEqual([beta.groupId]);
    const broken = f.servers[0]!;
    broken.status = 'failed';
    await runtime.restartPlatform('vk');
    expect(f.servers.map((s) => [s.groupId, s.status])).toEqual([[beta.groupId, 'ok'], [alpha.groupId, 'ok']]);
    expect(f.servers[1]!.id).not.toBe(broken.id);
    expect(f.calls.filter((c) => c.method === 'groups.deleteCallbackServer').map((c) => c.params.server_id)).toEqual([String(broken.id)]);
  });

  it('does not hold up the start while VK hangs, answers confirmation with Retry-After meanwhile, and abandons the calls on stop', async () => {
    const f = (fake = await new FakeVK([alpha, beta]).start());
    f.hold('groups.getCallbackConfirmationCode');
    const slowVk = defineAdapter({ type: 'vk', configSchema: vkConfig, create: (config) => new VkAdapter(config, { retryBaseMs: 20, maxAttempts: 4, setupWaitMs: 200 }) });
    const yaml = `platforms:\n  - id: vk\n    type: vk\n    apiRoot: ${f.apiRoot}\n    autoSetup: true\n    communities:\n      - { groupId: ${alpha.groupId}, token: "${alpha.token}", secret: "${alpha.secret}" }\n      - { groupId: ${beta.groupId}, token: "${beta.token}", secret: "${beta.secret}" }\n`;
    const started = Date.now();
    const { runtime: r, url, logs } = await startRuntime(yaml, { definitions: [...definitions.filter((d) => d.type !== 'vk'), slowVk as unknown as AdapterDefinition] });
    runtime = r;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(f.held.map((h) => h.method)).toEqual(['groups.getCallbackConfirmationCode']);
    expect(logs.some((l) => /autoSetup is taking long/.test(l.msg))).toBe(true);
    const confirm = await f.deliver(`${url}/webhooks/vk`, { type: 'confirmation', group_id: alpha.groupId, secret: alpha.secret });
    expect(confirm.status).toBe(503);
    expect(confirm.headers.get('retry-after')).toBe('10');
    await r.stop();
    runtime = undefined;
    await waitFor(() => f.held.every((h) => h.closed), 1000, 'the held call abandoned');
    await sleep(50);
    expect(f.held).toHaveLength(1); // beta's setup never began
    expect(logs.filter((l) => /autoSetup failed/.test(l.msg))).toEqual([]);
  });

  it('sets up only the community that asks for it', async () => {
    const f = (fake = await new FakeVK([alpha, beta]).start());
    const yaml = `platforms:\n  - id: vk\n    type: vk\n    apiRoot: ${f.apiRoot}\n    communities:\n      - { groupId: ${alpha.groupId}, token: "${alpha.token}", confirmation: "${alpha.confirmation}", secret: "${alpha.secret}", autoSetup: true }\n      - { groupId: ${beta.groupId}, token: "${beta.token}", confirmation: "${beta.confirmation}", secret: "${beta.secret}" }\n`;
    runtime = (await startRuntime(yaml, { definitions: [...definitions.filter((d) => d.type !== 'vk'), fastVk as unknown as AdapterDefinition] })).runtime;
    expect(fake.servers.map((s) => s.groupId)).toEqual([alpha.groupId]);
  });
});

describe('vk: through an http proxy', () => {
  it('carries API calls, the upload and the file download through the proxy, its password kept out of the logs', async () => {
    const { FakeProxy } = await import('./fakes/proxy.js');
    const proxy = await new FakeProxy({ user: 'op', password: 'pr0xy-pass' }).start();
    try {
      const { fake, deliver, logs } = await vk({ platformExtra: `    proxy: "${proxy.url}"\n` });
      fake.closeEachConnection = true;
      const cdn = fake.addFile('p.png', png, 'image/png');
      await deliver(messageNew(alpha, '', { fromId: 42, attachments: [{ type: 'photo', photo: { id: 1, owner_id: 42, sizes: [{ type: 'x', width: 1, height: 1, url: cdn }] } }] }));
      const [sent] = await sentCount(fake, 1);
      expect(sent!.attachments[0]!.data.equals(png)).toBe(true);
      const host = new URL(fake.url).host;
      // One tunnel per request: the photo download, three API calls and the upload.
      expect(fake.calls.map((c) => c.method)).toEqual(['photos.getMessagesUploadServer', 'photos.saveMessagesPhoto', 'messages.send']);
      expect(proxy.tunnels).toHaveLength(5);
      expect(proxy.tunnels.every((t) => t.target === host && t.auth === `Basic ${Buffer.from('op:pr0xy-pass').toString('base64')}`)).toBe(true);
      expect(logs.find((l) => l.msg === 'VK traffic goes through a proxy')!.proxy).toMatch(/op:\*\*\*\*@/);
      expect(JSON.stringify(logs)).not.toContain('pr0xy-pass');
    } finally {
      await runtime?.stop();
      runtime = undefined;
      await proxy.stop();
    }
  });
});

describe('vk: lifecycle callbacks', () => {
  it('a 403 at onMessage blocks a user: VK is told "ok" and the user gets the callback\'s text', async () => {
    const hooks = await new CallbackServer().start();
    try {
      hooks.on('onMessage', (ctx, body) => {
        if (body.message.author.id !== '666') return void (ctx.status = 204);
        ctx.status = 403;
        ctx.body = 'You are blocked.';
      });
      const { fake, deliver } = await vk({ extra: `callbacks:\n  onMessage: ${hooks.url}/onMessage\n` });
      expect(await (await deliver(messageNew(alpha, '/ping', { fromId: 666 }))).text()).toBe('ok');
      await deliver(messageNew(alpha, '/ping', { fromId: 42 }));
      const sent = await sentCount(fake, 2);
      expect(sent.map((s) => [s.peerId, s.params.message])).toEqual([
        [666, 'You are blocked.'],
        [42, 'pong'],
      ]);
      expect(hooks.received.some((r) => r.raw.includes(alpha.token) || r.raw.includes(alpha.secret))).toBe(false);
    } finally {
      await hooks.stop();
    }
  });
});
