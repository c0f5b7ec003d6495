// QQ end to end in websocket mode: the real handshake against the fake gateway, and every way
// a connection dies (dropped socket, op 7, op 9, a zombie, no HELLO), each followed by a message
// that still gets its answer. Also: all traffic through an http proxy.

import { afterEach, describe, expect, it } from 'vitest';
import qq, { QqAdapter } from '../adapters/qq/index.js';
import { defineAdapter, type AdapterDefinition } from '../src/adapter.js';
import { definitions } from '../src/runtime/registry.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { c2c, FakeQQ, groupAt, guildAt } from './fakes/qq.js';
import { FakeProxy, FakeSocksProxy } from './fakes/proxy.js';
import { sleep, startRuntime, tempStorePath, waitFor } from './helpers.js';

/** The real adapter with short gateway timings, so a missing HELLO is noticed in a test's time. */
const qqFast = defineAdapter({ ...qq, create: (config) => new QqAdapter(config, { helloTimeoutMs: 400, stallMs: 10_000 }) });

let runtime: Runtime | undefined;
let fake: FakeQQ | undefined;
let proxy: FakeProxy | FakeSocksProxy | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  await proxy?.stop();
  runtime = fake = proxy = undefined;
});

async function qqGateway(options: { extra?: string; before?: (fake: FakeQQ) => void; fake?: FakeQQ; storePath?: string } = {}) {
  const f = (fake = options.fake ?? (await new FakeQQ().start()));
  options.before?.(f);
  const yaml = `platforms:\n  - { id: qq, type: qq, appId: "${f.appId}", appSecret: "${f.appSecret}", mode: websocket, apiRoot: "${f.url}", tokenUrl: "${f.url}/app/getAppAccessToken"${options.extra ?? ''} }`;
  const started = await startRuntime(yaml, { definitions: [...definitions, qqFast as unknown as AdapterDefinition], storePath: options.storePath });
  runtime = started.runtime;
  await waitFor(() => f.gateway.connected, 4000, 'the gateway session');
  return { fake: f, logs: started.logs };
}

/** Pushes a group @-message and waits for the echo of its text to reach the fake. */
async function roundTrip(f: FakeQQ, text: string) {
  const event = groupAt(text);
  f.gateway.push(event.t, event.d, event.id);
  const sent = await waitFor(() => f.sent.find((s) => s.body.msg_id === event.d.id), 5000, `the answer to "${text}"`);
  expect(sent.body).toMatchObject({ content: text, msg_type: 0, msg_seq: expect.any(Number) });
  return sent;
}

describe('qq websocket gateway', () => {
  it('identifies with the token and intents, and answers group, C2C and guild messages', async () => {
    const { fake } = await qqGateway();
    expect(fake.gateway.identifies).toHaveLength(1);
    const identify = fake.gateway.identifies[0];
    expect(identify.token).toMatch(/^QQBot tok-/);
    expect(identify.intents).toBe((1 << 30) | (1 << 12) | (1 << 25));
    expect(identify.shard).toEqual([0, 1]);
    await roundTrip(fake, 'hello group');
    const direct = c2c('/ping');
    fake.gateway.push(direct.t, direct.d, direct.id);
    const guild = guildAt('/echo in a channel', fake.botUser);
    fake.gateway.push(guild.t, guild.d, guild.id);
    await waitFor(() => fake.sent.length === 3, 4000);
    expect(fake.sent.slice(1).map((s) => [s.scene, s.body.content, s.body.msg_id])).toEqual([
      ['user', 'pong', direct.d.id],
      ['channel', 'in a channel', guild.d.id],
    ]);
  });

  it('sends heartbeats carrying the last sequence number', async () => {
    const { fake } = await qqGateway();
    const s = fake.gateway.push('GROUP_ADD_ROBOT', { group_openid: 'G' });
    await waitFor(() => fake.gateway.heartbeats.includes(s), 3000, `a heartbeat with seq ${s}`);
  });

  it('resumes after a dropped socket, and the message sent meanwhile is replayed and answered', async () => {
    const { fake } = await qqGateway();
    await roundTrip(fake, 'before');
    const session = fake.gateway.sessionId;
    fake.gateway.drop();
    const missed = groupAt('sent while we were away');
    const seq = fake.gateway.push(missed.t, missed.d, missed.id);
    await waitFor(() => fake.sent.some((s) => s.body.msg_id === missed.d.id), 5000, 'the replayed message');
    expect(fake.gateway.resumes[0]).toMatchObject({ session_id: session, seq: seq - 1 });
    expect(fake.gateway.resumes[0].token).toMatch(/^QQBot /);
    expect(fake.gateway.identifies).toHaveLength(1);
    await roundTrip(fake, 'after');
  });

  it('resumes the kept session after a restart: what came while it was down is replayed and answered, nothing handled before is answered again', async () => {
    const storePath = tempStorePath();
    const first = await qqGateway({ storePath });
    await roundTrip(first.fake, 'before the restart');
    const session = first.fake.gateway.sessionId;
    await runtime!.stop();
    runtime = undefined;
    const missed = groupAt('sent while it was down');
    const seq = first.fake.gateway.push(missed.t, missed.d, missed.id);
    const { fake: f, logs } = await qqGateway({ storePath, fake: first.fake });
    await waitFor(() => f.sent.some((s) => s.body.msg_id === missed.d.id), 5000, 'the replayed message');
    // One IDENTIFY in all: the second start resumed the first one's session from its last event acknowledged.
    expect(f.gateway.identifies).toHaveLength(1);
    expect(f.gateway.resumes).toEqual([expect.objectContaining({ session_id: session, seq: seq - 1 })]);
    expect(logs.some((l) => l.msg === 'gateway session resumed')).toBe(true);
    await roundTrip(f, 'after the restart');
    expect(f.sent.map((s) => s.body.content)).toEqual(['before the restart', 'sent while it was down', 'after the restart']);
  });

  it('passes over no event the store cannot record: the session resumes from the last one recorded, and the replay is answered once, in order', async () => {
    const { fake, logs } = await qqGateway();
    await roundTrip(fake, 'before');
    const { inbox } = runtime!.store;
    const admit = inbox.admit.bind(inbox);
    inbox.admit = () => Promise.reject(new Error('the store is down'));
    const refused = groupAt('while the store is down');
    const refusedSeq = fake.gateway.push(refused.t, refused.d, refused.id);
    const next = groupAt('right after it');
    fake.gateway.push(next.t, next.d, next.id);
    await waitFor(() => fake.gateway.resumes.length >= 1, 5000, 'a resume after the refusal');
    expect(fake.gateway.resumes[0]).toMatchObject({ seq: refusedSeq - 1 });
    expect(logs.some((l) => l.msg === 'connection lost; reconnecting' && /could not be recorded/.test(String(l.err)))).toBe(true);
    inbox.admit = admit;
    await waitFor(() => fake.sent.filter((s) => s.body.msg_id === next.d.id).length === 1, 8000, 'both answered once the store takes them');
    expect(fake.sent.map((s) => s.body.content)).toEqual(['before', 'while the store is down', 'right after it']);
    expect(await runtime!.metrics.value('switchboard_events_unrecorded_total', { bot: 'qq' })).toBeGreaterThanOrEqual(1);
  });

  it('hands each event on as it arrives: one the store is slow to record holds up no later one, and the kept seq waits for it while heartbeats carry the last received', async () => {
    const { fake } = await qqGateway();
    await roundTrip(fake, 'before');
    const { inbox } = runtime!.store;
    const admit = inbox.admit.bind(inbox);
    let entered = false;
    let release!: () => void;
    const recorded = new Promise<void>((resolve) => (release = resolve));
    inbox.admit = async (event, ttlMs) => {
      if ((event.journal as { message?: { text?: string } }).message?.text === 'slow to record') {
        entered = true;
        await recorded;
      }
      return admit(event, ttlMs);
    };
    const slow = groupAt('slow to record');
    const slowSeq = fake.gateway.push(slow.t, slow.d, slow.id);
    await waitFor(() => entered, 3000, 'the slow event to be handed on');
    const next = groupAt('right behind it');
    const nextSeq = fake.gateway.push(next.t, next.d, next.id);
    await waitFor(() => fake.sent.some((s) => s.body.msg_id === next.d.id), 5000, 'the answer to the later event');
    // Meanwhile heartbeats carry the last seq received (QQ's protocol), and what a restart would
    // resume from stays before the event not recorded yet.
    const beats = fake.gateway.heartbeats.length;
    await waitFor(() => fake.gateway.heartbeats.length > beats, 3000, 'a heartbeat while the slow event is being recorded');
    expect(fake.gateway.heartbeats.at(-1)).toBe(nextSeq);
    const kept = () => runtime!.store.get<{ sessionId: string; seq: number }>('qq:qq:gateway');
    expect(await kept()).toEqual({ sessionId: fake.gateway.sessionId, seq: slowSeq - 1, user: { id: fake.botUser.id, username: fake.botUser.username } });
    release();
    await waitFor(() => fake.sent.some((s) => s.body.msg_id === slow.d.id), 5000, 'the answer to the slow event');
    await waitFor(async () => (await kept())?.seq === nextSeq, 3000, `the kept seq to reach ${nextSeq}`);
    inbox.admit = admit;
  });

  it('resumes when the gateway asks to reconnect (op 7)', async () => {
    const { fake, logs } = await qqGateway();
    fake.gateway.requestReconnect();
    await waitFor(() => fake.gateway.resumes.length === 1 && fake.gateway.connected, 4000, 'the resume');
    expect(logs.some((l) => l.msg === 'gateway asked us to reconnect (op 7); resuming')).toBe(true);
    expect(fake.gateway.identifies).toHaveLength(1);
    await roundTrip(fake, 'after op 7');
  });

  it('identifies afresh after INVALID_SESSION (op 9)', async () => {
    const { fake } = await qqGateway();
    const first = fake.gateway.sessionId;
    fake.gateway.invalidateSession();
    await waitFor(() => fake.gateway.identifies.length === 2 && fake.gateway.connected, 5000, 'a second IDENTIFY');
    expect(fake.gateway.sessionId).not.toBe(first);
    await roundTrip(fake, 'after op 9');
    // What a restart would resume is the new session, not the one QQ ended.
    expect(await runtime!.store.get<{ sessionId: string }>('qq:qq:gateway')).toMatchObject({ sessionId: fake.gateway.sessionId });
  });

  it('drops a zombie connection (no heartbeat ACKs) and resumes on a new one', async () => {
    const { fake, logs } = await qqGateway();
    fake.gateway.stopAcking();
    await waitFor(() => fake.gateway.resumes.length === 1 && fake.gateway.connected, 5000, 'the resume after the zombie');
    const lost = logs.find((l) => l.msg === 'connection lost; reconnecting');
    expect(lost?.err).toMatch(/zombie connection: no heartbeat ACK/);
    await roundTrip(fake, 'after the zombie');
  });

  it('gives up on a connection with no HELLO and connects again', async () => {
    const { fake, logs } = await qqGateway({ before: (f) => (f.gateway.skipHello = 1) });
    expect(fake.gateway.connections).toBe(2);
    expect(logs.find((l) => l.msg === 'connection lost; reconnecting')?.err).toMatch(/no HELLO within 400 ms/);
    await roundTrip(fake, 'after a silent gateway');
  });

  it('identifies with a fresh token after the old one expired', async () => {
    const { fake } = await qqGateway();
    fake.expireTokens();
    fake.gateway.invalidateSession();
    await waitFor(() => fake.gateway.identifies.length >= 2 && fake.gateway.connected, 6000, 'a new IDENTIFY');
    expect(fake.gateway.identifies.at(-1).token).not.toBe(fake.gateway.identifies[0].token);
    await roundTrip(fake, 'with a new token');
  }, 15_000);

  it('stops retrying when the gateway refuses the intents for good (4014), and says what to change', async () => {
    const f = (fake = await new FakeQQ().start());
    f.gateway.closeOnIdentify = 4014;
    const yaml = `platforms:\n  - { id: qq, type: qq, appId: "${f.appId}", appSecret: "${f.appSecret}", mode: websocket, intents: [GUILD_MESSAGES], apiRoot: "${f.url}", tokenUrl: "${f.url}/app/getAppAccessToken" }`;
    const started = await startRuntime(yaml, { definitions: [...definitions, qqFast as unknown as AdapterDefinition] });
    runtime = started.runtime;
    const failed = await waitFor(() => started.logs.find((l) => l.msg === 'connection failed for good; not retrying'), 3000);
    expect(failed.err).toMatch(/intents not permitted for this bot.*\(4014\)/);
    expect(f.gateway.identifies[0].intents).toBe(1 << 9);
    await sleep(700);
    expect(f.gateway.connections).toBe(1);
  });

  it('stops retrying when QQ refuses the app credentials', async () => {
    const f = (fake = await new FakeQQ().start());
    const yaml = `platforms:\n  - { id: qq, type: qq, appId: "${f.appId}", appSecret: "not-the-secret", mode: websocket, apiRoot: "${f.url}", tokenUrl: "${f.url}/app/getAppAccessToken" }`;
    const started = await startRuntime(yaml, { definitions: [...definitions, qqFast as unknown as AdapterDefinition] });
    runtime = started.runtime;
    const failed = await waitFor(() => started.logs.find((l) => l.msg === 'connection failed for good; not retrying'), 3000);
    expect(failed.err).toBe('QQ refused the app credentials: invalid appid or secret (code 100016); check appId and appSecret');
    expect(JSON.stringify(started.logs)).not.toContain('not-the-secret');
    expect(f.gateway.connections).toBe(0);
  });

  it('never doubles replies after the platform is stopped and started again', async () => {
    const { fake } = await qqGateway();
    await runtime!.restartPlatform('qq');
    await runtime!.restartPlatform('qq');
    // A connection opened since, and the first one's socket gone (the fake may not have seen it close yet).
    await waitFor(() => fake.gateway.connections >= 2 && fake.gateway.openSockets === 1 && fake.gateway.connected, 4000);
    await roundTrip(fake, 'once');
    await sleep(300);
    expect(fake.sent).toHaveLength(1);
    expect(fake.gateway.openSockets).toBe(1);
  });
});

describe('qq through an http proxy', () => {
  it('carries the token request, the OpenAPI and the gateway through the proxy, with its credentials kept out of the logs', async () => {
    proxy = await new FakeProxy({ user: 'op', password: 's3cret' }).start();
    const { fake, logs } = await qqGateway({ extra: `, proxy: "${proxy.url}"` });
    const target = new URL(fake.url).host;
    await roundTrip(fake, 'via proxy');
    expect(proxy.tunnels.length).toBeGreaterThanOrEqual(2);
    expect(proxy.tunnels.every((t) => t.target === target && t.auth === `Basic ${Buffer.from('op:s3cret').toString('base64')}`)).toBe(true);
    expect(JSON.stringify(logs)).not.toContain('s3cret');
  });
});

describe('qq through a SOCKS5 proxy', () => {
  it('carries the token request, the OpenAPI and the gateway websocket through it, authenticated, password kept out of the logs', async () => {
    const socks = new FakeSocksProxy({ user: 'op', password: 's0cks-pass' });
    proxy = await socks.start();
    const { fake, logs } = await qqGateway({ extra: `, proxy: "${socks.url}"` });
    const target = new URL(fake.url).host;
    await roundTrip(fake, 'via socks');
    expect(socks.tunnels.length).toBeGreaterThanOrEqual(2);
    expect(socks.tunnels.every((t) => t.target === target && t.user === 'op')).toBe(true);
    expect(fake.gateway.peerPorts.length).toBeGreaterThan(0);
    expect(fake.gateway.peerPorts.every((port) => socks.upstreamPorts.includes(port))).toBe(true);
    expect(JSON.stringify(logs)).not.toContain('s0cks-pass');
  });
});
