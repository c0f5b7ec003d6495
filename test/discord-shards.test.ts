// Discord sharding in one process: each shard its own connection (and /healthz entry), guild
// events arriving on the shard Discord routes them to, IDENTIFYs paced per max_concurrency bucket,
// each shard's session resumed on its own, and the refusals a wrong shard count gets. Then across
// two CLI instances on Redis: one shard held by each, and taken over and resumed by the other when
// its holder is SIGKILLed.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import discord, { DiscordAdapter } from '../adapters/discord/index.js';
import echo from '../bots/echo.js';
import { defineAdapter, type AdapterDefinition } from '../src/adapter.js';
import { definitions } from '../src/runtime/registry.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { atBot, directMessage, FakeDiscord, guildMessage, token } from './fakes/discord.js';
import { openStore } from '../src/store/open.js';
import { SwitchboardProcess } from './drill/child.js';
import { startRuntime, tempStorePath, waitFor } from './helpers.js';
import { dropPrefix, redisUrl, requireRedis, testPrefix } from './redis.js';

const drillBot = fileURLToPath(new URL('./fixtures/drill-bot.ts', import.meta.url));

const discordFast = defineAdapter({
  ...discord,
  create: (config) => new DiscordAdapter(config, { readyTimeoutMs: 3000, stallMs: 20_000, livenessPollMs: 100, maxReconnects: 2 }),
});

let runtime: Runtime | undefined;
let fake: FakeDiscord | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  runtime = fake = undefined;
});

/** A guild id Discord routes to `shard` of `count`: (guild_id >> 22) % count. */
const guildOn = (shard: number, count: number, n = 1) => String((BigInt(100_000_000_000 * n * count + shard)) << 22n);

async function setup(options: { extra?: string; before?: (fake: FakeDiscord) => void; shards: number; wait?: boolean; definition?: typeof discordFast }) {
  const f = (fake = await new FakeDiscord().start());
  options.before?.(f);
  const yaml = `platforms:\n  - { id: dc, type: discord, token: "${token}", apiRoot: "${f.url}"${options.extra ?? ''} }\n`;
  const started = await startRuntime(yaml, { bot: echo, definitions: [...definitions, (options.definition ?? discordFast) as unknown as AdapterDefinition] });
  runtime = started.runtime;
  if (options.wait !== false) {
    for (let shard = 0; shard < options.shards; shard++) await waitFor(() => f.gateway.isConnected(shard), 15_000, `shard ${shard}'s session`);
    await waitFor(() => started.logs.filter((l) => l.msg === 'gateway ready').length === options.shards, 5000, 'every client ready');
  }
  return { fake: f, logs: started.logs, url: started.url };
}

const answersTo = (f: FakeDiscord, d: { id: string }) => f.sent.filter((s) => s.body.message_reference?.message_id === d.id);

/** Messages in guilds of every shard and a DM, each answered exactly once. */
async function answeredOnEveryShard(f: FakeDiscord, count: number) {
  const messages: { id: string }[] = [];
  for (let shard = 0; shard < count; shard++) {
    const d = guildMessage(f, atBot(f, `to shard ${shard}`), { guild: guildOn(shard, count) });
    expect(f.gateway.shardFor('MESSAGE_CREATE', d)).toBe(shard);
    messages.push(d);
  }
  const dm = directMessage(f, 'a DM');
  expect(f.gateway.shardFor('MESSAGE_CREATE', dm)).toBe(0);
  messages.push(dm);
  for (const d of messages) f.gateway.push('MESSAGE_CREATE', d);
  await waitFor(() => messages.every((d) => answersTo(f, d).length > 0), 5000, 'an answer to each message');
  return messages;
}

describe('discord shards in one process', () => {
  it('runs shardCount 2 as two connections: guilds on both shards are answered, each once, and /healthz lists each shard', async () => {
    const { fake: f, url } = await setup({ extra: ', shardCount: 2, identifyInterval: 0', shards: 2 });
    expect(f.gateway.identifies.map((d) => d.shard).sort()).toEqual([[0, 2], [1, 2]]);
    const messages = await answeredOnEveryShard(f, 2);
    expect(messages.map((d) => answersTo(f, d).length)).toEqual([1, 1, 1]);
    expect(f.gateway.overlaps).toEqual([]);
    const health = (await (await fetch(`${url}/healthz`)).json()) as { status: string; platforms: unknown[] };
    expect(health).toEqual({
      status: 'ok',
      store: { description: expect.stringMatching(/^sqlite /), available: true },
      platforms: [{ id: 'dc', type: 'discord', connection: 'up', held: true, connections: [{ name: 'discord:dc:shard:0', state: 'up', held: true }, { name: 'discord:dc:shard:1', state: 'up', held: true }] }],
    });
  });

  it('takes the shard count Discord recommends (auto, the default) from GET /gateway/bot', async () => {
    const { fake: f } = await setup({ extra: ', identifyInterval: 0', shards: 3, before: (f) => (f.gateway.shards = 3) });
    expect(f.gateway.identifies.map((d) => d.shard).sort()).toEqual([[0, 3], [1, 3], [2, 3]]);
    const messages = await answeredOnEveryShard(f, 3);
    expect(messages.map((d) => answersTo(f, d).length)).toEqual([1, 1, 1, 1]);
  });

  it('identifies one shard per max_concurrency bucket per window: shards of one bucket a window apart, the buckets side by side', async () => {
    const windowMs = 1500;
    const { fake: f } = await setup({
      extra: `, shardCount: 4, identifyInterval: ${windowMs}`,
      shards: 4,
      before: (f) => {
        f.gateway.maxConcurrency = 2;
        f.gateway.identifyWindowMs = windowMs; // a second IDENTIFY of a bucket within the window would get op 9
      },
    });
    const identified = f.gateway.identified;
    expect(identified.filter((i) => i.refused)).toEqual([]);
    const at = (shard: number) => identified.find((i) => i.shard === shard)!.at;
    // Buckets: shard % 2. Each bucket's second IDENTIFY waits out the window after its first.
    expect(Math.abs(at(2) - at(0))).toBeGreaterThanOrEqual(windowMs);
    expect(Math.abs(at(3) - at(1))).toBeGreaterThanOrEqual(windowMs);
    // The two buckets do not wait for each other: both started within one window.
    const first = identified.slice(0, 2).map((i) => i.shard % 2).sort();
    expect(first).toEqual([0, 1]);
    expect(identified[1]!.at - identified[0]!.at).toBeLessThan(windowMs);
    await answeredOnEveryShard(f, 4);
  }, 20_000);

  it('counts readyTimeout from a shard\'s turn to identify, not from its wait in line behind the other shards of its bucket', async () => {
    const shortReady = defineAdapter({ ...discord, create: (config) => new DiscordAdapter(config, { readyTimeoutMs: 800, stallMs: 20_000, livenessPollMs: 100 }) });
    const { fake: f, logs } = await setup({ extra: ', shardCount: 3, identifyInterval: 600', shards: 3, definition: shortReady });
    // The last shard waited two windows (1200 ms) for its turn, longer than readyTimeout, and still logged in once.
    expect(f.gateway.identified.map((i) => i.shard).sort()).toEqual([0, 1, 2]);
    expect(f.gateway.identified.at(-1)!.at - f.gateway.identified[0]!.at).toBeGreaterThanOrEqual(1200);
    expect(logs.filter((l) => l.msg === 'connection lost; reconnecting')).toEqual([]);
    await answeredOnEveryShard(f, 3);
  });

  it("resumes a shard's own session after its connection drops, and answers what came meanwhile; the other shard is untouched", async () => {
    const { fake: f } = await setup({ extra: ', shardCount: 2, identifyInterval: 0', shards: 2 });
    const sessions = [f.gateway.sessionOf(0), f.gateway.sessionOf(1)];
    f.gateway.drop(1);
    const missed = guildMessage(f, atBot(f, 'while shard 1 was away'), { guild: guildOn(1, 2) });
    const seq = f.gateway.push('MESSAGE_CREATE', missed);
    await waitFor(() => answersTo(f, missed).length === 1, 5000, 'the replayed message');
    expect(f.gateway.resumes).toEqual([expect.objectContaining({ session_id: sessions[1], seq: seq - 1 })]);
    expect(f.gateway.identifies).toHaveLength(2);
    expect([f.gateway.sessionOf(0), f.gateway.sessionOf(1)]).toEqual(sessions);
    const messages = await answeredOnEveryShard(f, 2);
    expect([missed, ...messages].map((d) => answersTo(f, d).length)).toEqual([1, 1, 1, 1]);
  });

  it('resumes every shard\'s session after a restart, from the key each keeps: what came while down is answered once', async () => {
    const f = (fake = await new FakeDiscord().start());
    const storePath = tempStorePath();
    const yaml = `platforms:\n  - { id: dc, type: discord, token: "${token}", apiRoot: "${f.url}", shardCount: 2, identifyInterval: 0 }\n`;
    const start = async () => (runtime = (await startRuntime(yaml, { bot: echo, storePath, definitions: [...definitions, discordFast as unknown as AdapterDefinition] })).runtime);
    const first = await start();
    await waitFor(() => f.gateway.isConnected(0) && f.gateway.isConnected(1), 5000, 'both shards');
    const before = await answeredOnEveryShard(f, 2);
    const sessions = [f.gateway.sessionOf(0), f.gateway.sessionOf(1)];
    expect(await first.store.get('discord:dc:gateway:1')).toMatchObject({ 1: { sessionId: sessions[1], shardCount: 2 } });
    await first.stop();
    const missed = [guildMessage(f, atBot(f, 'shard 0, while down'), { guild: guildOn(0, 2) }), guildMessage(f, atBot(f, 'shard 1, while down'), { guild: guildOn(1, 2) })];
    for (const d of missed) f.gateway.push('MESSAGE_CREATE', d);
    await start();
    await waitFor(() => missed.every((d) => answersTo(f, d).length === 1), 5000, 'the answers to what was missed');
    expect(f.gateway.resumes.map((r) => r.session_id).sort()).toEqual([...sessions].sort());
    expect(f.gateway.identifies).toHaveLength(2);
    expect([...before, ...missed].map((d) => answersTo(f, d).length)).toEqual([1, 1, 1, 1, 1]);
  });

  it('resumes the session an earlier version kept under one key for all shards', async () => {
    const f = (fake = await new FakeDiscord().start());
    const storePath = tempStorePath();
    const yaml = `platforms:\n  - { id: dc, type: discord, token: "${token}", apiRoot: "${f.url}", identifyInterval: 0 }\n`;
    const start = async () => (runtime = (await startRuntime(yaml, { bot: echo, storePath, definitions: [...definitions, discordFast as unknown as AdapterDefinition] })).runtime);
    const first = await start();
    await waitFor(() => f.gateway.connected, 5000, 'the gateway session');
    await answeredOnEveryShard(f, 1);
    await first.stop();
    // What the earlier version left: every shard's session under discord:<id>:gateway.
    const store = await openStore({ type: 'sqlite', path: storePath, sync: 'normal' });
    await store.set('discord:dc:gateway', await store.get('discord:dc:gateway:0'));
    await store.delete('discord:dc:gateway:0');
    await store.close();
    const missed = directMessage(f, 'while upgrading');
    f.gateway.push('MESSAGE_CREATE', missed);
    await start();
    await waitFor(() => answersTo(f, missed).length === 1, 5000, 'the answer to what was missed');
    expect(f.gateway.resumes).toEqual([expect.objectContaining({ session_id: f.gateway.sessionId })]);
    expect(f.gateway.identifies).toHaveLength(1);
  });

  it('stops retrying when Discord requires more shards than configured (4011), and says what to set', async () => {
    const { fake: f, logs } = await setup({ extra: ', shardCount: 1, identifyInterval: 0', shards: 1, wait: false, before: (f) => (f.gateway.shards = 2) });
    const failed = await waitFor(() => logs.find((l) => l.msg === 'connection failed for good; not retrying'), 5000, 'the refusal');
    expect(failed.err).toMatch(/Discord requires more shards for this bot \(4011\): set platforms\[\]\.shardCount to auto/);
    expect(f.gateway.identified).toEqual([expect.objectContaining({ shard: 0, refused: true })]);
  });
});

describe('discord shards across instances (Redis)', () => {
  const ttl = 3000;
  const windowMs = 2000;
  const cleanups: (() => Promise<unknown>)[] = [];
  let dir = '';
  beforeAll(async () => {
    await requireRedis();
    dir = await mkdtemp(join(tmpdir(), 'switchboard-shards-'));
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  /** Each shard's state on one instance, by shard number, from its /healthz. */
  async function shardsOf(proc: SwitchboardProcess): Promise<{ state: string; held?: boolean }[]> {
    const health = (await (await fetch(`${proc.url}/healthz`)).json()) as { platforms: { connections?: { name: string; state: string; held?: boolean }[] }[] };
    const connections = health.platforms[0]!.connections ?? [];
    return connections.map((c) => ({ state: c.state, held: c.held }));
  }

  /** Which of `procs` holds each shard (up) while every other stands by for it. */
  async function holders(procs: SwitchboardProcess[], count: number): Promise<SwitchboardProcess[]> {
    return waitFor(
      async () => {
        const states = await Promise.all(procs.map(shardsOf));
        const found: SwitchboardProcess[] = [];
        for (let shard = 0; shard < count; shard++) {
          const up = procs.filter((_, i) => states[i]![shard]?.state === 'up' && states[i]![shard]?.held === true);
          const standby = procs.filter((_, i) => states[i]![shard]?.state === 'standby');
          if (up.length !== 1 || standby.length !== procs.length - 1) return false;
          found.push(up[0]!);
        }
        return found;
      },
      ttl * 4,
      'each shard held by one instance, the others standing by',
    );
  }

  it('holds one shard on each instance; a SIGKILLed holder\'s shard is taken over within leaseTtl and resumed: nothing lost or answered twice', async () => {
    const f = (fake = await new FakeDiscord().start());
    f.gateway.identifyWindowMs = windowMs; // max_concurrency 1: both shards in one bucket, whichever instance holds them
    const prefix = testPrefix('discord-shards');
    cleanups.push(() => dropPrefix(prefix));
    const config = join(dir, 'dc.yaml');
    await writeFile(config, [
      `bot: ${drillBot}`,
      'server: { port: 0 }',
      `store: { type: redis, url: "${redisUrl}", prefix: "${prefix}" }`,
      // A job the victim was finishing as it died holds its partition up until stallTimeout (the queue's matter): kept short.
      `cluster: { leaseTtl: ${ttl}ms, stallTimeout: 5s }`,
      'platforms:',
      `  - { id: dc, type: discord, token: "${token}", apiRoot: "${f.url}", shardCount: 2, identifyInterval: ${windowMs}ms }`,
      '',
    ].join('\n'));
    const start = async () => {
      const proc = await SwitchboardProcess.start(config, dir, { DRILL_MAX_WORK_MS: '0' });
      cleanups.push(() => proc.kill());
      return proc;
    };
    // The first instance alone takes both shards; once a second joins, it releases one for it to take
    // (leases alone are first come, first served), and that shard's session resumes there.
    const first = await start();
    expect(await holders([first], 2)).toEqual([first, first]);
    const procs = [first, await start()];
    const held = await waitFor(async () => {
      const found = await holders(procs, 2);
      return found[0] !== found[1] && found;
    }, ttl * 6, 'one shard on each instance');
    const handedOver = f.gateway.resumedAt.map((r) => r.shard);
    expect(handedOver).toHaveLength(1);

    // Messages on both shards, each in a channel of its own (Discord's 5 per 5 s per channel stays far).
    const texts: string[] = [];
    let n = 0;
    const push = () => {
      const shard = n % 2;
      const text = `m${n}`;
      texts.push(text);
      f.gateway.push('MESSAGE_CREATE', guildMessage(f, text, { guild: guildOn(shard, 2), channel: String(700000000000000000n + BigInt(n)) }));
      n++;
    };
    const answered = () => new Map(f.sent.map((s) => [String(s.body.content), f.sent.filter((o) => o.body.content === s.body.content).length]));
    const allAnswered = (what: string) => waitFor(() => texts.every((t) => answered().has(t)), 15_000, what);
    for (let i = 0; i < 20; i++) push();
    await allAnswered('the messages before the kill');

    // Killed between messages (a handler cut off mid-message is the queue's matter, not the shard's).
    const victim = held[1]!;
    const untouched = f.gateway.sessionOf(0);
    const killedAt = Date.now();
    await victim.kill();
    for (let i = 0; i < 20; i++) push(); // shard 1's go to its session, to be replayed on RESUME
    const takeover = await waitFor(() => f.gateway.resumedAt.find((r) => r.shard === 1 && r.at > killedAt), ttl * 3, 'shard 1 resumed by the other instance');
    expect(takeover.at - killedAt).toBeLessThanOrEqual(ttl + 1500);
    const survivor = procs.find((p) => p !== victim)!;
    expect(await holders([survivor], 2)).toEqual([survivor, survivor]);
    for (let i = 0; i < 20; i++) push();
    await allAnswered('every message');
    expect([...answered().entries()].filter(([, count]) => count !== 1)).toEqual([]);
    expect(f.sent).toHaveLength(texts.length);
    // Two IDENTIFYs in all (one per shard, a window apart); a shard that moved, handed over or taken over, RESUMEs.
    expect(f.gateway.identified.map((i) => i.refused)).toEqual([false, false]);
    expect(Math.abs(f.gateway.identified[1]!.at - f.gateway.identified[0]!.at)).toBeGreaterThanOrEqual(windowMs);
    expect(f.gateway.overlaps).toEqual([]);
    // Shard 0 lived on the survivor all along: its session went on without a reconnect.
    expect(f.gateway.sessionOf(0)).toBe(untouched);
    expect(f.gateway.resumedAt.filter((r) => r.shard === 0 && r.at > killedAt)).toEqual([]);
    expect(await survivor.stop()).toBe(0);
    console.log(`discord shards drill: shards held by instances ${held.map((p) => procs.indexOf(p)).join(', ')} (shard ${handedOver[0]} handed over to balance); shard 1 resumed ${takeover.at - killedAt} ms after its holder's SIGKILL (lease ${ttl} ms); ${texts.length} messages, each answered once`);
  }, 90_000);
});
