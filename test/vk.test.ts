// VK end to end: callbacks posted as VK posts them -> the echo bot -> the messages.send calls and
// uploads that reached the fake VK API; plus every way a callback can be wrong.

import { afterEach, describe, expect, it } from 'vitest';
import { defineBot } from '../src/bot/bot.js';
import type { Message } from '../src/message.js';
import { CallbackServer } from './fakes/callback-server.js';
import { callback, messageNew } from './fakes/vk.js';
import { alpha, beta, png, recordingBot, running, secretsIn, sentCount, stopVk, vk } from './fakes/vk-harness.js';
import { sleep, tempStorePath, waitFor } from './helpers.js';

afterEach(stopVk);

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

  it('consumes an authenticated callback it cannot read (an event_id that is not a string, a message of the wrong shape): "ok", logged, nothing handled', async () => {
    // VK sends anything but "ok" again; one that cannot be read would come back forever.
    const seen: Message[] = [];
    const { fake, deliver, logs } = await vk({ bot: recordingBot(seen) });
    const answers = [
      await deliver({ ...messageNew(alpha, 'x'), event_id: { id: 1 } }),
      await deliver({ ...messageNew(alpha, 'x'), object: { message: { peer_id: 5, text: 5, attachments: 7 } } }),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    expect(await Promise.all(answers.map((r) => r.text()))).toEqual(['ok', 'ok']);
    expect(logs.filter((l) => l.level === 50).map((l) => l.msg)).toEqual([
      'an authenticated request could not be read; answered as delivered, so the platform does not send it again',
      'could not normalize an event; dropped',
    ]);
    // The next event is handled as usual.
    expect((await deliver(messageNew(alpha, 'genuine'))).status).toBe(200);
    await sentCount(fake, 1);
    expect(seen.map((m) => m.text)).toEqual(['genuine']);
    expect(secretsIn(logs)).toBeNull();
  });

  it('answers 503 with the server\'s Retry-After while shutting down, so VK delivers the event again later', async () => {
    const { deliver } = await vk({ extra: 'server:\n  port: 0\n  retryAfter: 7s\n' });
    running.runtime!.pipeline.close(); // what Runtime.stop does first
    const res = await deliver(messageNew(alpha, '/ping'));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
  });

  it('answers 503 with Retry-After when the store cannot take the event (never a bare 500), and takes it when VK comes back', async () => {
    const seen: Message[] = [];
    const { fake, deliver, logs } = await vk({ bot: recordingBot(seen), extra: 'server:\n  port: 0\n  retryAfter: 7s\n' });
    const { inbox } = running.runtime!.store;
    const admit = inbox.admit.bind(inbox);
    inbox.admit = () => Promise.reject(new Error('redis: connection refused'));
    const event = messageNew(alpha, 'later');
    const res = await deliver(event);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(logs.find((l) => l.msg === 'could not record an event; the platform is asked to deliver it again')).toMatchObject({ err: 'redis: connection refused' });
    inbox.admit = admit;
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

  it('handles an event VK delivers again after a restart (same event_id, same store file) once: "ok" both times, one reply', async () => {
    const seen: Message[] = [];
    const { fake, deliver, restart } = await vk({ bot: recordingBot(seen), storePath: tempStorePath() });
    const event = messageNew(alpha, 'before the restart');
    expect(await (await deliver(event)).text()).toBe('ok');
    await sentCount(fake, 1);
    const after = await restart();
    const again = await after.deliver(event, { retry: 1 });
    expect(again.status).toBe(200);
    expect(await again.text()).toBe('ok');
    // The control: a new event after the restart is handled, so the one before it had its turn.
    expect(await (await after.deliver(messageNew(alpha, 'after the restart'))).text()).toBe('ok');
    await sentCount(fake, 2);
    await sleep(100);
    expect(fake.sent.map((s) => s.params.message)).toEqual(['before the restart', 'after the restart']);
    expect(seen.map((m) => m.text)).toEqual(['before the restart', 'after the restart']);
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

  it('still sends the text when VK refuses a file, and keeps the item as a dead letter naming which file failed and why', async () => {
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
    expect(refused).toMatchObject({ err: 'VK upload of chart.png failed: ERR_UPLOAD_FILE_INVALID: photo is too small', deadLetter: true });
    // Refused is refused: nothing is tried again.
    expect(fake.calls.filter((c) => c.method === 'messages.send')).toHaveLength(1);
    expect(secretsIn(logs)).toBeNull();
  });

  it('tries the part again, file and all, when an upload is cut off: the text and the photo arrive together, once', async () => {
    const bot = defineBot((b) =>
      b.on('message', (ctx) => ctx.reply([{ type: 'text', text: 'Your chart:' }, { type: 'image', data: png, mime: 'image/png', name: 'chart.png' }], { quote: false })),
    );
    const { fake, deliver, logs } = await vk({ bot });
    fake.failNextUpload('drop');
    await deliver(messageNew(alpha, 'chart', { fromId: 42 }));
    const [sent] = await sentCount(fake, 1);
    expect(sent!.params.message).toBe('Your chart:');
    expect(sent!.params.attachment).toMatch(/^photo-123456_\d+_[0-9a-f]+$/);
    expect(sent!.attachments[0]!.data.equals(png)).toBe(true);
    expect(fake.calls.map((c) => c.method)).toEqual(['photos.getMessagesUploadServer', 'photos.getMessagesUploadServer', 'photos.saveMessagesPhoto', 'messages.send']);
    await sleep(50);
    expect(fake.sent).toHaveLength(1);
    expect(logs.some((l) => l.msg === 'delivery failed')).toBe(false);
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
  it('hands message_allow delivered again after a restart to the event handlers once (the claim is in the store file)', async () => {
    const events: string[] = [];
    const bot = defineBot((b) => b.on('event', (ctx) => void events.push(ctx.event.type)));
    const { deliver, restart } = await vk({ bot, storePath: tempStorePath() });
    const event = callback(alpha, 'message_allow', { user_id: 42, key: 'landing' });
    expect(await (await deliver(event)).text()).toBe('ok');
    await waitFor(() => events.length === 1);
    const after = await restart();
    expect(await (await after.deliver(event, { retry: 1 })).text()).toBe('ok');
    expect(await (await after.deliver(callback(alpha, 'message_deny', { user_id: 42 }))).text()).toBe('ok');
    await waitFor(() => events.length === 2);
    await sleep(50);
    expect(events).toEqual(['message_allow', 'message_deny']);
  });

  it('gives back the claim of an event refused while shutting down (503), so VK\'s redelivery after the restart is handled', async () => {
    const events: string[] = [];
    const bot = defineBot((b) => b.on('event', (ctx) => void events.push(ctx.event.type)));
    const { deliver, restart } = await vk({ bot, storePath: tempStorePath() });
    running.runtime!.pipeline.close(); // what Runtime.stop does first
    const event = callback(alpha, 'message_allow', { user_id: 42 });
    expect((await deliver(event)).status).toBe(503);
    const after = await restart();
    expect(await (await after.deliver(event, { retry: 1 })).text()).toBe('ok');
    await waitFor(() => events.length === 1);
    expect(events).toEqual(['message_allow']);
  });

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
