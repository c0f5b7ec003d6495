// VK end to end, the API side: sends tried again by the core under one random_id per part
// (throttling, VK failing, lost answers, dead letters), autoSetup of the callback server, and
// API traffic through a proxy.

import { afterEach, describe, expect, it } from 'vitest';
import { VkAdapter } from '../adapters/vk/index.js';
import { vkConfig } from '../adapters/vk/schema.js';
import { defineAdapter } from '../src/adapter.js';
import { defineBot } from '../src/bot/bot.js';
import { idempotencyInt32 } from '../src/delivery/idempotency.js';
import { FakeVK, messageNew } from './fakes/vk.js';
import { alpha, beta, fastRetry, png, running, secretsIn, sentCount, stopVk, vk, withVk } from './fakes/vk-harness.js';
import { sleep, startRuntime, waitFor } from './helpers.js';

afterEach(stopVk);

describe('vk: sending that survives VK', () => {
  const sends = (fake: FakeVK) => fake.calls.filter((c) => c.method === 'messages.send');

  it('waits out errors 6 (too many requests per second) and 9 (flood control), and the reply still arrives', async () => {
    const { fake, deliver, logs } = await vk();
    fake.failNext('messages.send', 6);
    fake.failNext('messages.send', 9);
    await deliver(messageNew(alpha, '/ping'));
    const [sent] = await sentCount(fake, 1);
    expect(sent!.params.message).toBe('pong');
    expect(sends(fake).map((c) => c.error)).toEqual([6, 9, undefined]);
    expect(new Set(sends(fake).map((c) => c.params.random_id)).size).toBe(1);
    expect(logs.some((l) => l.msg === 'delivery failed')).toBe(false);
  });

  it.each([
    ['error 10 (internal server error)', (fake: FakeVK) => fake.failNext('messages.send', 10)],
    ['HTTP 502', (fake: FakeVK) => fake.failNextHttp('messages.send', 502)],
  ])('sends again with the same random_id after %s, and the user sees one message', async (_, fail) => {
    const { fake, deliver, logs } = await vk();
    fail(fake);
    await deliver(messageNew(alpha, '/ping'));
    await sentCount(fake, 1);
    await sleep(50);
    expect(sends(fake)).toHaveLength(2);
    expect(sends(fake)[0]!.error).toBeDefined();
    expect(sends(fake)[1]!.params.random_id).toBe(sends(fake)[0]!.params.random_id);
    expect(fake.sent.map((s) => s.params.message)).toEqual(['pong']);
    expect(logs.some((l) => l.msg === 'delivery failed')).toBe(false);
  });

  it('resends with the same random_id when VK took the send but its answer was lost, so VK does not show the message twice', async () => {
    const { fake, deliver } = await vk();
    fake.loseNextSendAnswer();
    await deliver(messageNew(alpha, '/ping'));
    await waitFor(() => sends(fake).length >= 2, 4000, 'a resend');
    await sleep(100);
    expect(sends(fake)).toHaveLength(2);
    expect(sends(fake)[0]!.params.random_id).toBe(sends(fake)[1]!.params.random_id);
    expect(fake.sent.map((s) => s.params.message)).toEqual(['pong']);
  });

  it('keeps a send that fails on every try (error 10) as a dead letter after the policy\'s attempts, reporting it', async () => {
    const { fake, deliver, logs } = await vk();
    fake.failNext('messages.send', 10, 10);
    await deliver(messageNew(alpha, '/ping'));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'), 4000);
    expect(line).toMatchObject({ err: 'VK messages.send failed: Internal server error (error 10)', deadLetter: true });
    expect(sends(fake).map((c) => c.error)).toEqual([10, 10, 10, 10]);
    expect(new Set(sends(fake).map((c) => c.params.random_id)).size).toBe(1);
    expect(fake.sent).toEqual([]);
    const dead = await running.runtime!.store.outbox.list('dead');
    expect(dead.map((d) => [d.message.content, d.error])).toEqual([[[{ type: 'text', text: 'pong' }], 'VK messages.send failed: Internal server error (error 10)']]);
  });

  it('gives up at once on a refused token (error 5), saying to check it, never showing it', async () => {
    const { fake, deliver, logs } = await vk();
    fake.failNext('messages.send', 5);
    await deliver(messageNew(alpha, '/ping'));
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
    expect(line.err).toMatch(/^VK messages\.send failed: .*\(error 5\); check the community token in the config/);
    expect(sends(fake)).toHaveLength(1);
    expect(secretsIn(logs)).toBeNull();
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
    expect(sends(fake)).toHaveLength(1);
    expect(secretsIn(logs)).toBeNull();
  });
});

describe('vk: random_id from the item\'s key', () => {
  const to = { botId: 'vk', channelId: `${alpha.groupId}:42` };
  const long = [{ type: 'text' as const, text: `${'a'.repeat(4000)}\n${'b'.repeat(500)}` }];
  const options = (key: string, sent = 0) => ({ key, sent, signal: new AbortController().signal, pace: async () => true });

  it('is the same for the same item and part on every try (another process included): VK shows each part once', async () => {
    const { fake } = await vk();
    const adapter = running.runtime!.adapters.get('vk')!;
    const first = await adapter.send({ to, content: long }, options('evt-1:0'));
    const again = await adapter.send({ to, content: long }, options('evt-1:0'));
    expect(first.ok && again.ok).toBe(true);
    expect(again.ids).toEqual(first.ids);
    expect(fake.sent.map((s) => s.randomId)).toEqual([idempotencyInt32('evt-1:0', 0), idempotencyInt32('evt-1:0', 1)]);
    // Another item (the next reply to the same message, or another message) is other messages.
    await adapter.send({ to, content: long }, options('evt-1:1'));
    expect(fake.sent).toHaveLength(4);
  });

  it('skips the parts an earlier try delivered and goes on with the rest, under their own random_ids', async () => {
    const { fake } = await vk();
    const adapter = running.runtime!.adapters.get('vk')!;
    const rest = await adapter.send({ to, content: long }, options('evt-2:0', 1));
    expect(rest).toMatchObject({ ok: true, ids: [String(fake.sent[0]!.id)] });
    expect(fake.sent.map((s) => [s.params.message, s.randomId])).toEqual([['b'.repeat(500), idempotencyInt32('evt-2:0', 1)]]);
  });

  it('is a fresh one for each direct call without a key', async () => {
    const { fake } = await vk();
    const adapter = running.runtime!.adapters.get('vk')!;
    await adapter.send({ to, content: [{ type: 'text', text: 'hi' }] });
    await adapter.send({ to, content: [{ type: 'text', text: 'hi' }] });
    expect(fake.sent).toHaveLength(2);
    expect(fake.sent[0]!.randomId).not.toBe(fake.sent[1]!.randomId);
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
    await running.runtime!.restartPlatform('vk');
    expect(fake.servers).toHaveLength(2);
    expect(fake.calls.filter((c) => c.method === 'groups.editCallbackServer').map((c) => c.params.group_id)).toEqual([String(alpha.groupId), String(beta.groupId)]);
    expect(logs.filter((l) => l.msg === 'VK callback server registered')).toHaveLength(2);
    expect(secretsIn(logs)).toBeNull();
  });

  it('asks VK for the confirmation string when none is configured, and replaces a server VK marks as failing', async () => {
    const f = (running.fake = await new FakeVK([alpha, beta]).start());
    const yaml = `platforms:\n  - id: vk\n    type: vk\n    apiRoot: ${f.apiRoot}\n    autoSetup: true\n    communities:\n      - { groupId: ${alpha.groupId}, token: "${alpha.token}", secret: "${alpha.secret}" }\n      - { groupId: ${beta.groupId}, token: "${beta.token}", confirmation: "stale0", secret: "${beta.secret}" }\n`;
    const started = await startRuntime(yaml, { definitions: withVk() });
    running.runtime = started.runtime;
    expect(f.servers.map((s) => [s.groupId, s.status])).toEqual([[alpha.groupId, 'ok'], [beta.groupId, 'ok']]);
    expect(started.logs.filter((l) => /differs from the one VK gives/.test(l.msg)).map((l) => l.groupId)).toEqual([beta.groupId]);
    const broken = f.servers[0]!;
    broken.status = 'failed';
    await running.runtime.restartPlatform('vk');
    expect(f.servers.map((s) => [s.groupId, s.status])).toEqual([[beta.groupId, 'ok'], [alpha.groupId, 'ok']]);
    expect(f.servers[1]!.id).not.toBe(broken.id);
    expect(f.calls.filter((c) => c.method === 'groups.deleteCallbackServer').map((c) => c.params.server_id)).toEqual([String(broken.id)]);
  });

  it('does not hold up the start while VK hangs, answers confirmation with Retry-After meanwhile, and abandons the calls on stop', async () => {
    const f = (running.fake = await new FakeVK([alpha, beta]).start());
    f.hold('groups.getCallbackConfirmationCode');
    const slowVk = defineAdapter({ type: 'vk', configSchema: vkConfig, create: (config) => new VkAdapter(config, { setupRetry: fastRetry, setupWaitMs: 200 }) });
    const yaml = `server:\n  port: 0\n  retryAfter: 7s\nplatforms:\n  - id: vk\n    type: vk\n    apiRoot: ${f.apiRoot}\n    autoSetup: true\n    communities:\n      - { groupId: ${alpha.groupId}, token: "${alpha.token}", secret: "${alpha.secret}" }\n      - { groupId: ${beta.groupId}, token: "${beta.token}", secret: "${beta.secret}" }\n`;
    const started = Date.now();
    const { runtime: r, url, logs } = await startRuntime(yaml, { definitions: withVk(slowVk) });
    running.runtime = r;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(f.held.map((h) => h.method)).toEqual(['groups.getCallbackConfirmationCode']);
    expect(logs.some((l) => /autoSetup is taking long/.test(l.msg))).toBe(true);
    const confirm = await f.deliver(`${url}/webhooks/vk`, { type: 'confirmation', group_id: alpha.groupId, secret: alpha.secret });
    expect(confirm.status).toBe(503);
    expect(confirm.headers.get('retry-after')).toBe('7');
    await r.stop();
    running.runtime = undefined;
    await waitFor(() => f.held.every((h) => h.closed), 1000, 'the held call abandoned');
    await sleep(50);
    expect(f.held).toHaveLength(1); // beta's setup never began
    expect(logs.filter((l) => /autoSetup failed/.test(l.msg))).toEqual([]);
  });

  it('says so when VK could not confirm the server it just added, rather than that it is registered', async () => {
    const f = (running.fake = await new FakeVK([alpha, beta]).start());
    f.reachesUs = false;
    const yaml = `platforms:\n  - id: vk\n    type: vk\n    apiRoot: ${f.apiRoot}\n    communities:\n      - { groupId: ${alpha.groupId}, token: "${alpha.token}", secret: "${alpha.secret}", autoSetup: true }\n`;
    const started = await startRuntime(yaml, { definitions: withVk() });
    running.runtime = started.runtime;
    expect(f.servers.map((s) => s.status)).toEqual(['failed']);
    expect(started.logs.filter((l) => /VK callback server registered/.test(l.msg))).toEqual([]);
    expect(started.logs.find((l) => /VK could not confirm/.test(l.msg))).toMatchObject({ level: 50, groupId: alpha.groupId, status: 'failed' });
  });

  it('sets up only the community that asks for it', async () => {
    const f = (running.fake = await new FakeVK([alpha, beta]).start());
    const yaml = `platforms:\n  - id: vk\n    type: vk\n    apiRoot: ${f.apiRoot}\n    communities:\n      - { groupId: ${alpha.groupId}, token: "${alpha.token}", confirmation: "${alpha.confirmation}", secret: "${alpha.secret}", autoSetup: true }\n      - { groupId: ${beta.groupId}, token: "${beta.token}", confirmation: "${beta.confirmation}", secret: "${beta.secret}" }\n`;
    running.runtime = (await startRuntime(yaml, { definitions: withVk() })).runtime;
    expect(f.servers.map((s) => s.groupId)).toEqual([alpha.groupId]);
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
      await running.runtime?.stop();
      running.runtime = undefined;
      await proxy.stop();
    }
  });
});

