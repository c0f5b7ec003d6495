// Discord's connection surviving every way it dies (dropped socket, op 7, op 9, a zombie, no
// HELLO), each followed by a message that still gets its answer; restarts that never double
// replies; fatal refusals that stop retrying; button clicks; all traffic through an http proxy.

import { afterEach, describe, expect, it, vi } from 'vitest';
import discord, { DiscordAdapter } from '../adapters/discord/index.js';
import echo from '../bots/echo.js';
import { defineAdapter, type AdapterDefinition } from '../src/adapter.js';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { Message } from '../src/message.js';
import { definitions } from '../src/runtime/registry.js';
import { parseConfig } from '../src/runtime/config.js';
import { Runtime } from '../src/runtime/runtime.js';
import { atBot, directMessage, FakeDiscord, guildMessage, token } from './fakes/discord.js';
import { FakeProxy, FakeSocksProxy } from './fakes/proxy.js';
import { captureLogs, sleep, startRuntime, tempStorePath, waitFor } from './helpers.js';

const discordFast = defineAdapter({
  ...discord,
  create: (config) => new DiscordAdapter({ ...config, identifyInterval: 0 }, { readyTimeoutMs: 600, stallMs: 10_000, livenessPollMs: 100, maxReconnects: 2 }),
});

let runtime: Runtime | undefined;
let fake: FakeDiscord | undefined;
let proxy: FakeProxy | FakeSocksProxy | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  await proxy?.stop();
  runtime = fake = proxy = undefined;
});

/** The same, with a watchdog short enough to see in a test. */
const discordWatchdog = defineAdapter({
  ...discord,
  create: (config) => new DiscordAdapter({ ...config, identifyInterval: 0 }, { readyTimeoutMs: 600, stallMs: 2500, livenessPollMs: 100, maxReconnects: 2 }),
});

async function setup(options: { watchdog?: boolean; extra?: string; token?: string; before?: (fake: FakeDiscord) => void; bot?: Bot; wait?: boolean } = {}) {
  const f = (fake = await new FakeDiscord().start());
  options.before?.(f);
  const yaml = `platforms:\n  - { id: dc, type: discord, token: "${options.token ?? token}", apiRoot: "${f.url}"${options.extra ?? ''} }\n`;
  const adapter = options.watchdog ? discordWatchdog : discordFast;
  const started = await startRuntime(yaml, { bot: options.bot ?? echo, definitions: [...definitions, adapter as unknown as AdapterDefinition] });
  runtime = started.runtime;
  if (options.wait !== false) {
    await waitFor(() => f.gateway.connected, 5000, 'the gateway session');
    // The fake has sent READY; the client is ready once it has read it (an op 7 before then is an op 7 during IDENTIFY).
    await waitFor(() => started.logs.some((l) => l.msg === 'gateway ready'), 5000, 'the client ready');
  }
  return { fake: f, logs: started.logs };
}

async function roundTrip(f: FakeDiscord, text: string) {
  const d = guildMessage(f, atBot(f, text));
  f.gateway.push('MESSAGE_CREATE', d);
  const sent = await waitFor(() => f.sent.find((s) => s.body.message_reference?.message_id === d.id), 5000, `the answer to "${text}"`);
  expect(sent.body.content).toBe(text);
}

/** GUILD_CREATE for a guild with one text channel and one active thread in it. */
function guildCreate(guild: string, now = new Date().toISOString()) {
  return {
    id: guild, name: 'g', icon: null, owner_id: '1', afk_channel_id: null, afk_timeout: 0, verification_level: 0, default_message_notifications: 0, explicit_content_filter: 0,
    features: [], mfa_level: 0, application_id: null, system_channel_id: null, system_channel_flags: 0, rules_channel_id: null, vanity_url_code: null, description: null, banner: null,
    premium_tier: 0, preferred_locale: 'en-US', public_updates_channel_id: null, nsfw_level: 0, premium_progress_bar_enabled: false, safety_alerts_channel_id: null,
    roles: [], emojis: [], stickers: [], joined_at: now, large: false, unavailable: false, member_count: 1, voice_states: [], members: [], presences: [], stage_instances: [], guild_scheduled_events: [],
    channels: [{ id: '300000000000000001', type: 0, guild_id: guild, name: 'general', position: 0, permission_overwrites: [] }],
    threads: [{ id: '310000000000000001', type: 11, guild_id: guild, parent_id: '300000000000000001', name: 'a thread', owner_id: '1', thread_metadata: { archived: false, auto_archive_duration: 60, archive_timestamp: now, locked: false } }],
  };
}

describe('discord gateway: the connection survives', () => {
  it('resumes after a dropped socket, and the message sent meanwhile is replayed and answered', async () => {
    const { fake } = await setup();
    await roundTrip(fake, 'before');
    const session = fake.gateway.sessionId;
    fake.gateway.drop();
    const missed = guildMessage(fake, atBot(fake, 'sent while we were away'));
    const seq = fake.gateway.push('MESSAGE_CREATE', missed);
    await waitFor(() => fake.sent.some((s) => s.body.message_reference?.message_id === missed.id), 5000, 'the replayed message');
    expect(fake.gateway.resumes[0]).toMatchObject({ token, session_id: session, seq: seq - 1 });
    expect(fake.gateway.identifies).toHaveLength(1);
    await roundTrip(fake, 'after');
  });

  it('resumes on the resume_gateway_url when the gateway asks to reconnect (op 7)', async () => {
    const { fake } = await setup();
    fake.gateway.requestReconnect();
    await waitFor(() => fake.gateway.resumes.length === 1 && fake.gateway.connected, 5000, 'the resume');
    expect(fake.gateway.queries.length).toBe(2);
    expect(fake.gateway.identifies).toHaveLength(1);
    await roundTrip(fake, 'after op 7');
  });

  it('identifies afresh after INVALID_SESSION (op 9)', async () => {
    const { fake } = await setup();
    const first = fake.gateway.sessionId;
    fake.gateway.invalidateSession();
    await waitFor(() => fake.gateway.identifies.length === 2 && fake.gateway.connected, 5000, 'a second IDENTIFY');
    expect(fake.gateway.sessionId).not.toBe(first);
    await roundTrip(fake, 'after op 9');
  });

  it('drops a zombie connection (no heartbeat ACKs) and resumes on a new one', async () => {
    const { fake } = await setup({ before: (f) => (f.gateway.heartbeatIntervalMs = 150) });
    fake.gateway.stopAcking();
    await waitFor(() => fake.gateway.resumes.length === 1 && fake.gateway.connected, 5000, 'the resume after the zombie');
    expect(fake.gateway.identifies).toHaveLength(1);
    await roundTrip(fake, 'after the zombie');
  });

  it('restarts the client when no HELLO comes within the deadline, then answers', async () => {
    const { fake, logs } = await setup({ before: (f) => (f.gateway.skipHello = 1) });
    expect(fake.gateway.connections).toBe(2);
    expect(logs.find((l) => l.msg === 'connection lost; reconnecting')?.err).toMatch(/no READY within 600 ms/);
    await roundTrip(fake, 'after a silent gateway');
    expect(fake.gateway.openSockets).toBe(1);
  });

  it('restarts the client when the watchdog sees no gateway activity (a reconnect left waiting for HELLO)', async () => {
    const { fake, logs } = await setup({ watchdog: true });
    fake.gateway.skipHello = 1;
    fake.gateway.drop(); // discord.js reconnects, then would wait 60 s for a HELLO that never comes
    const lost = await waitFor(() => logs.find((l) => l.msg === 'connection lost; reconnecting'), 5000, 'the watchdog');
    expect(lost.err).toBe('stalled: no sign of life for 2500 ms');
    // The new client resumes the session the stalled one left.
    await waitFor(() => fake.gateway.connected && fake.gateway.resumes.length === 1, 5000, 'the session resumed');
    expect(fake.gateway.identifies).toHaveLength(1);
    await roundTrip(fake, 'after the stall');
    expect(fake.gateway.openSockets).toBe(1);
  });

  it('caps discord.js\'s own reconnects to a failing gateway, then backs off and restarts the client', async () => {
    const { fake, logs } = await setup();
    fake.gateway.closeAfterHello = 4;
    fake.gateway.drop();
    const lost = await waitFor(() => logs.find((l) => l.msg === 'connection lost; reconnecting'), 5000, 'the supervisor taking over');
    expect(lost).toMatchObject({ err: 'gateway reconnect failed 2 times in a row', attempt: 1 });
    expect(lost.retryInMs).toBeGreaterThanOrEqual(250);
    await waitFor(() => fake.gateway.connected && fake.gateway.closeAfterHello === 0, 8000, 'a healthy session again');
    await roundTrip(fake, 'after the storm');
    expect(fake.gateway.openSockets).toBe(1);
  });

  it('knows a thread from a channel by what GUILD_CREATE said', async () => {
    const seen: Message[] = [];
    const { fake } = await setup({ bot: defineBot((b) => b.on('message', (ctx) => void seen.push(ctx.message))) });
    const guild = '400000000000000001';
    const now = new Date().toISOString();
    fake.gateway.push('GUILD_CREATE', guildCreate(guild, now));
    fake.gateway.push('MESSAGE_CREATE', guildMessage(fake, 'in the thread', { channel: '310000000000000001' }));
    fake.gateway.push('MESSAGE_CREATE', guildMessage(fake, 'in the channel'));
    await waitFor(() => seen.length === 2, 4000);
    expect(seen.map((m) => [m.text, m.channel])).toEqual([
      ['in the thread', { id: '310000000000000001', type: 'thread', guildId: guild }],
      ['in the channel', { id: '300000000000000001', type: 'channel', guildId: guild }],
    ]);
  });

  it('keeps no user, member or DM channel per message author: memory does not grow with the audience', async () => {
    let adapter: DiscordAdapter | undefined;
    const counting = defineAdapter({ ...discordFast, create: (config) => (adapter = new DiscordAdapter({ ...config, identifyInterval: 0 }, { readyTimeoutMs: 600, stallMs: 10_000, livenessPollMs: 100 })) });
    const f = (fake = await new FakeDiscord().start());
    const seen: Message[] = [];
    runtime = (await startRuntime(`platforms:\n  - { id: dc, type: discord, token: "${token}", apiRoot: "${f.url}" }\n`, { bot: defineBot((b) => b.on('message', (ctx) => void seen.push(ctx.message))), definitions: [...definitions, counting as unknown as AdapterDefinition] })).runtime;
    await waitFor(() => f.gateway.connected, 5000, 'the gateway session');
    f.gateway.push('GUILD_CREATE', guildCreate('400000000000000001'));
    const people = 40;
    for (let i = 0; i < people; i++) {
      const author = { id: String(210000000000000000n + BigInt(i)), username: `user${i}` };
      f.gateway.push('MESSAGE_CREATE', guildMessage(f, 'hi', { author }));
      f.gateway.push('MESSAGE_CREATE', directMessage(f, 'psst', { author, channel: String(510000000000000000n + BigInt(i)) }));
    }
    await waitFor(() => seen.length === 2 * people, 5000, 'every message');
    expect(seen.filter((m) => m.channel.type === 'direct')).toHaveLength(people);
    const client = (adapter as unknown as { clients: Map<number, import('discord.js').Client> }).clients.get(0)!;
    expect(client.users.cache.size).toBeLessThanOrEqual(1); // the bot itself
    expect(client.guilds.cache.get('400000000000000001')?.members.cache.size ?? 0).toBeLessThanOrEqual(1);
    expect(client.channels.cache.size).toBeLessThanOrEqual(2); // the guild's channel and its thread
  });

  it('never doubles replies after the platform is stopped and started again', async () => {
    const { fake } = await setup();
    await runtime!.restartPlatform('dc');
    await runtime!.restartPlatform('dc');
    // The stopped clients' sockets are closed: a connection up now is the last client's.
    await waitFor(() => fake.gateway.connected && fake.gateway.connections >= 2, 5000, 'a new connection');
    await roundTrip(fake, 'once');
    await sleep(300);
    expect(fake.sent).toHaveLength(1);
    expect(fake.gateway.openSockets).toBe(1);
  });

  it('leaves no interval behind when the platform is stopped and started again', async () => {
    const live = new Set<unknown>();
    const { setInterval: set, clearInterval: clear } = globalThis;
    const spies = [
      vi.spyOn(globalThis, 'setInterval').mockImplementation(((fn: () => void, ms?: number) => {
        const timer = set(fn, ms);
        live.add(timer);
        return timer;
      }) as typeof setInterval),
      vi.spyOn(globalThis, 'clearInterval').mockImplementation((timer?: Parameters<typeof clearInterval>[0]) => {
        live.delete(timer);
        clear(timer);
      }),
    ];
    try {
      const { fake } = await setup();
      await roundTrip(fake, 'ready');
      const before = live.size;
      for (let i = 0; i < 3; i++) await runtime!.restartPlatform('dc');
      await waitFor(() => fake.gateway.connected && fake.gateway.connections >= 2, 5000, 'the last connection');
      await roundTrip(fake, 'still here');
      expect(live.size).toBe(before);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  it('stops retrying when the intents are not enabled for the app (4014), and says what to switch on', async () => {
    const { fake: f, logs } = await setup({ wait: false, before: (f) => (f.gateway.closeOnIdentify = 4014) });
    const failed = await waitFor(() => logs.find((l) => l.msg === 'connection failed for good; not retrying'), 4000);
    expect(failed.err).toMatch(/intents not enabled for this app \(4014\): switch on the privileged intents \(Message Content/);
    await sleep(700);
    expect(f.gateway.connections).toBe(1);
  });

  const bad = 'MTAwMDAwMDAwMDAwMDAwMDAw.Gwrong.not-the-right-token-at-all_000000';

  it('stops retrying when Discord refuses the token, and keeps it out of the logs', async () => {
    const { fake: f, logs } = await setup({ token: bad, wait: false, extra: ', shardCount: 1' });
    const failed = await waitFor(() => logs.find((l) => l.msg === 'connection failed for good; not retrying'), 4000);
    expect(failed.err).toMatch(/rejected the bot token \(401\)/);
    await sleep(300);
    expect(f.calls.filter((c) => c.path === '/api/v10/gateway/bot')).toHaveLength(1);
    expect(f.gateway.connections).toBe(0);
    expect(JSON.stringify(logs)).not.toContain(bad);
  });

  it('does not start when Discord refuses the token asked for the shard count (auto), says why, and keeps it out of the logs', async () => {
    const f = (fake = await new FakeDiscord().start());
    const yaml = `platforms:\n  - { id: dc, type: discord, token: "${bad}", apiRoot: "${f.url}" }\nserver: { port: 0 }\nstore: { type: memory }\n`;
    const all = [...definitions, discordFast as unknown as AdapterDefinition];
    const config = parseConfig(yaml, { definitions: all, env: {}, source: 'test.yaml', baseDir: process.cwd() });
    const logs = captureLogs();
    runtime = await Runtime.create(config, { bot: echo, logger: logs.logger, definitions: all });
    await expect(runtime.start()).rejects.toThrow('Discord rejected the bot token (401); check platforms[].token');
    expect(f.calls.filter((c) => c.path === '/api/v10/gateway/bot')).toHaveLength(1);
    expect(f.gateway.connections).toBe(0);
    expect(JSON.stringify(logs.lines)).not.toContain(bad);
  });
});

describe('discord gateway: the session outlives Switchboard', () => {
  /** Switchboard on `storePath`, as a start after a restart would find it. */
  async function startOn(f: FakeDiscord, storePath: string) {
    const yaml = `platforms:\n  - { id: dc, type: discord, token: "${token}", apiRoot: "${f.url}" }\n`;
    const started = await startRuntime(yaml, { bot: echo, storePath, definitions: [...definitions, discordFast as unknown as AdapterDefinition] });
    runtime = started.runtime;
    return started;
  }

  /** A fake Discord and Switchboard connected to it, on a store file a restart can open again. */
  async function firstStart() {
    const f = (fake = await new FakeDiscord().start());
    const storePath = tempStorePath();
    const first = await startOn(f, storePath);
    await waitFor(() => f.gateway.connected, 5000, 'the gateway session');
    return { f, storePath, first };
  }

  const answersTo = (f: FakeDiscord, d: { id: string }) => f.sent.filter((s) => s.body.message_reference?.message_id === d.id);

  async function answered(f: FakeDiscord, text: string) {
    const d = guildMessage(f, atBot(f, text));
    const seq = f.gateway.push('MESSAGE_CREATE', d);
    await waitFor(() => answersTo(f, d).length === 1, 5000, `the answer to "${text}"`);
    return { d, seq };
  }

  it('resumes the session after a restart: what was sent while it was down is replayed and answered, each once', async () => {
    const { f, storePath, first } = await firstStart();
    const before = await answered(f, 'before');
    const session = f.gateway.sessionId;
    await first.runtime.stop();
    expect(f.gateway.sessionId).toBe(session); // stopping left the session to be resumed

    const missed = [guildMessage(f, atBot(f, 'while down')), directMessage(f, 'also while down')];
    for (const d of missed) f.gateway.push('MESSAGE_CREATE', d);
    f.gateway.push('MESSAGE_CREATE', guildMessage(f, 'a reply of ours', { author: f.botUser }));
    const second = await startOn(f, storePath);
    await waitFor(() => missed.every((d) => answersTo(f, d).length === 1), 5000, 'the answers to what was missed');
    expect(f.gateway.resumes).toEqual([expect.objectContaining({ token, session_id: session, seq: before.seq })]);
    expect(f.gateway.identifies).toHaveLength(1);
    expect(second.logs.find((l) => l.msg === 'gateway ready')).toMatchObject({ username: f.botUser.username });
    // The resumed client goes on as a ready one, and still knows its own messages from users'.
    const after = await answered(f, 'after');
    expect([before.d, ...missed, after.d].map((d) => answersTo(f, d).length)).toEqual([1, 1, 1, 1]);
    expect(f.sent).toHaveLength(4); // nothing for our own message
  });

  it('resumes from the last event recorded, not the last received: one the store could not take is answered after a restart', async () => {
    const { f, storePath, first } = await firstStart();
    const before = await answered(f, 'before');
    await first.runtime.store.close(); // the store can take no write from now on
    const lost = guildMessage(f, atBot(f, 'not recorded'));
    f.gateway.push('MESSAGE_CREATE', lost);
    const failed = await waitFor(() => {
      const lines = first.logs.filter((l) => l.msg === 'connection lost; reconnecting');
      return lines.length >= 2 && lines;
    }, 5000, 'the client given up twice');
    expect(failed[0]!.err).toMatch(/could not be recorded/);
    expect(failed.map((l) => l.attempt)).toEqual([1, 2]); // backing off, not spinning
    await first.runtime.stop();

    await startOn(f, storePath);
    await waitFor(() => answersTo(f, lost).length === 1, 5000, 'the answer to the event not recorded');
    expect(f.gateway.resumes.at(-1)).toMatchObject({ session_id: f.gateway.sessionId, seq: before.seq });
    // Its answer may be sent again if the store failed before marking it delivered: the nonce keeps it single.
    expect(answersTo(f, before.d)).toHaveLength(1);
  });

  it('identifies afresh when Discord no longer has the kept session, and goes on answering', async () => {
    const { f, storePath, first } = await firstStart();
    await answered(f, 'before');
    await first.runtime.stop();
    f.gateway.invalidateSession(); // expired while Switchboard was down
    await startOn(f, storePath);
    await waitFor(() => f.gateway.connected && f.gateway.identifies.length === 2, 5000, 'a new session');
    expect(f.gateway.resumes).toHaveLength(1);
    await answered(f, 'after');
  });
});

describe('discord buttons', () => {
  it('sends buttons as components; a click is acknowledged (deferred update) and reaches the bot as its value', async () => {
    const clicks: Message[] = [];
    const bot = defineBot((b) => {
      b.command('menu', () => ({ type: 'buttons', rows: [[{ label: 'Red', value: 'red' }, { label: 'Docs', url: 'https://example.com/docs' }]] }));
      b.on('message', (ctx) => {
        clicks.push(ctx.message);
        return ctx.reply(`got ${ctx.text}`);
      });
    });
    const { fake } = await setup({ bot });
    fake.gateway.push('MESSAGE_CREATE', guildMessage(fake, '/menu'));
    const [menu] = await waitFor(() => fake.sent.length === 1 && fake.sent, 4000, 'the menu');
    expect(menu!.body).toMatchObject({
      content: 'Choose:',
      components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Red', custom_id: 'red' }, { type: 2, style: 5, label: 'Docs', url: 'https://example.com/docs' }] }],
    });
    const interaction = {
      id: fake.snowflake(),
      application_id: fake.applicationId,
      type: 3,
      token: 'interaction-token-1',
      version: 1,
      guild_id: '400000000000000001',
      channel_id: '300000000000000001',
      channel: { id: '300000000000000001', type: 0 },
      member: { user: { id: '200000000000000001', username: 'alice', discriminator: '0', global_name: null, avatar: null }, roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0, permissions: '0' },
      message: { id: menu!.id, channel_id: '300000000000000001' },
      data: { custom_id: 'red', component_type: 2 },
      app_permissions: '0',
      locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: {},
      attachment_size_limit: 1,
    };
    fake.gateway.push('INTERACTION_CREATE', interaction);
    await waitFor(() => fake.interactionCallbacks.length === 1, 4000, 'the acknowledgement');
    expect(fake.interactionCallbacks[0]).toEqual({ id: interaction.id, token: 'interaction-token-1', body: { type: 6 } });
    const reply = await waitFor(() => fake.sent[1], 4000, 'the answer to the click');
    expect(reply.body.content).toBe('got red');
    expect(reply.body.message_reference).toBeUndefined();
    expect(reply.channelId).toBe('300000000000000001');
    // The interaction token answers for the bot for 15 minutes: it must not travel to callbacks in raw.
    expect(JSON.stringify(clicks[0])).not.toContain('interaction-token-1');
    expect(clicks[0]!.raw).toMatchObject({ id: interaction.id, data: { custom_id: 'red' } });
    expect(clicks[0]).toMatchObject({ id: `click:${interaction.id}`, replyTo: menu!.id, text: 'red', author: { id: '200000000000000001', username: 'alice' }, channel: { id: '300000000000000001', type: 'channel', guildId: '400000000000000001' }, mentionsBot: true });
  });
});

describe('discord through an http proxy', () => {
  it('carries REST and the gateway websocket through the proxy, with its credentials kept out of the logs', async () => {
    proxy = await new FakeProxy({ user: 'op', password: 's3cret' }).start();
    // The fake names its gateway by "localhost", so a tunnel to localhost:<port> can only be the gateway.
    const { fake: f, logs } = await setup({ extra: `, proxy: "${proxy.url}"`, before: (f) => (f.gatewayHost = 'localhost') });
    await roundTrip(f, 'via proxy');
    const auth = `Basic ${Buffer.from('op:s3cret').toString('base64')}`;
    expect(proxy.tunnels.map((t) => t.target)).toEqual(expect.arrayContaining([`127.0.0.1:${f.port}`, `localhost:${f.port}`]));
    expect(proxy.tunnels.every((t) => t.auth === auth)).toBe(true);
    // A resume goes through the proxy too (READY's resume_gateway_url is rewritten to the bridge).
    const before = proxy.tunnels.length;
    f.gateway.requestReconnect();
    await waitFor(() => f.gateway.resumes.length === 1 && f.gateway.connected, 5000, 'the resume through the proxy');
    expect(proxy.tunnels.slice(before).map((t) => t.target)).toContain(`127.0.0.1:${f.port}`);
    await roundTrip(f, 'after resuming via proxy');
    // The attachment download and the multipart upload take the proxy too.
    const png = Buffer.from('89504e470d0a1a0a', 'hex');
    const url = f.hostFile('p.png', png, 'image/png');
    f.gateway.push('MESSAGE_CREATE', guildMessage(f, atBot(f), { attachments: [{ id: '1', filename: 'p.png', content_type: 'image/png', size: png.length, url, proxy_url: url }] }));
    const upload = await waitFor(() => f.sent.find((s) => s.files.length === 1), 4000, 'the upload');
    expect(upload.files[0]!.data.equals(png)).toBe(true);
    const download = f.calls.find((c) => c.path.startsWith('/cdn/'));
    expect(download?.status).toBe(200);
    // Both came over a connection the proxy opened (kept-alive ones are reused, so no tunnel count tells).
    const fromProxy = (c: { peerPort: number } | undefined) => c !== undefined && (proxy as FakeProxy).upstreamPorts.includes(c.peerPort);
    expect(fromProxy(download)).toBe(true);
    expect(fromProxy(f.calls.findLast((c) => c.method === 'POST' && c.path.endsWith('/messages')))).toBe(true);
    expect(JSON.stringify(logs)).not.toContain('s3cret');
  });
});

describe('discord through a proxy, restarted mid-reply', () => {
  it('finishes a reply waiting out a 429 before the restart closes the proxy connection under it', async () => {
    proxy = await new FakeProxy().start();
    const { fake: f } = await setup({ extra: `, proxy: "${proxy.url}"` });
    f.rateLimitNext(0.4);
    const d = guildMessage(f, atBot(f, 'hold on'));
    f.gateway.push('MESSAGE_CREATE', d);
    await waitFor(() => f.calls.some((c) => c.status === 429), 4000, 'the 429');
    await runtime!.restartPlatform('dc');
    const sent = await waitFor(() => f.sent.find((s) => s.body.message_reference?.message_id === d.id), 4000, 'the reply');
    expect(sent.body.content).toBe('hold on');
  });
});

describe('discord through a SOCKS5 proxy', () => {
  it('carries REST and the gateway websocket through it, authenticated, password kept out of the logs', async () => {
    const socks = new FakeSocksProxy({ user: 'op', password: 's0cks-pass' });
    proxy = await socks.start();
    // The fake names its gateway by "localhost", so a tunnel to localhost:<port> can only be the gateway.
    const { fake: f, logs } = await setup({ extra: `, proxy: "${socks.url}"`, before: (f) => (f.gatewayHost = 'localhost') });
    await roundTrip(f, 'via socks');
    expect(socks.tunnels.map((t) => t.target)).toEqual(expect.arrayContaining([`127.0.0.1:${f.port}`, `localhost:${f.port}`]));
    expect(socks.tunnels.every((t) => t.user === 'op')).toBe(true);
    expect(JSON.stringify(logs)).not.toContain('s0cks-pass');
  });
});
