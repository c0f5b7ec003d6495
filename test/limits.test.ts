// Per-user limits (docs/limits.md): what a user over the limit sees (one notice, then silence
// until the window passes), what onMessage is told and may overrule, a count shared by instances
// on one Redis, and the bound of this process's own counter.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage, PageSegment } from '../adapters/sandbox/chats.js';
import type { Adapter } from '../src/adapter.js';
import { defineBot } from '../src/bot/bot.js';
import { sendLimitsOf } from '../src/delivery/pacer.js';
import type { Message, OutgoingMessage } from '../src/message.js';
import { defaultNotice, perUserOf, UserLimits, type PerUserLimit } from '../src/pipeline/limits.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { parseConfig } from '../src/runtime/config.js';
import { silentLogger } from '../src/runtime/logger.js';
import { Metrics } from '../src/runtime/metrics.js';
import { definitions } from '../src/runtime/registry.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { MemoryStore, type Store } from '../src/store/index.js';
import { RedisStore } from '../src/store/redis/index.js';
import { RedisWindowCounter, windowCounterFor } from '../src/store/redis/window-counter.js';
import { LocalWindowCounter, type WindowCounter } from '../src/store/window-counter.js';
import { CallbackServer } from './fakes/callback-server.js';
import { startRuntime, waitFor } from './helpers.js';
import { dropPrefix, redisUrl, requireRedis, testPrefix } from './redis.js';

const echo = defineBot((b) => b.on('message', (ctx) => ctx.reply(ctx.text, { quote: false })));

/** A pipeline on one recording platform `chat`; `say` sends as a user and waits until it is handled. */
function pipeline(limit: PerUserLimit, options: { store?: Store; counter?: WindowCounter; metrics?: Metrics } = {}) {
  const sent: OutgoingMessage[] = [];
  const adapter: Adapter = { id: 'chat', type: 'test', start: async () => {}, stop: async () => {}, send: async (m) => (sent.push(m), { ok: true, ids: [`m${sent.length}`], ms: 1 }) };
  const store = options.store ?? new MemoryStore();
  const userLimits = new UserLimits(() => limit, options.counter ?? windowCounterFor(store), options.metrics);
  const p = new Pipeline({ bot: echo, adapters: new Map([['chat', adapter]]), store, logger: silentLogger(), metrics: options.metrics, userLimits });
  let id = 0;
  const say = async (user: string, text: string, channel: { id: string; type: 'direct' | 'group' } = { id: `dm:${user}`, type: 'direct' }) => {
    const message: Message = { id: `${++id}`, platform: 'test', botId: 'chat', channel, author: { id: user, name: user.toUpperCase(), isBot: false }, content: [{ type: 'text', text }], text, mentionsBot: true, timestamp: 0, raw: {} };
    expect(await p.dispatch('chat', { key: `${user}:${id}:${Math.random()}`, normalize: () => message })).toBe('accepted');
    await p.drain();
  };
  /** What the bot said, as text (a mention as @id), in order. */
  const said = () => sent.map((m) => m.content.map((s) => (s.type === 'text' ? s.text : s.type === 'mention' ? `@${s.userId}` : `[${s.type}]`)).join(''));
  return { p, say, said, store };
}

const notice = (seconds: number) => defaultNotice.replace('{seconds}', String(seconds));

describe('per-user limits in one process', () => {
  it('answers 5, tells the 6th once, ignores the 7th, and answers again once the window has passed; another user is not touched', async () => {
    let now = 1_000_000;
    const metrics = new Metrics();
    const { say, said, store } = pipeline({ messages: 5, per: 10_000, notice: defaultNotice }, { counter: new LocalWindowCounter({ now: () => now }), metrics });
    for (let i = 1; i <= 5; i++) await say('alice', `a${i}`);
    now += 4000;
    await say('alice', 'a6');
    await say('alice', 'a7');
    await say('bob', 'b1');
    expect(said()).toEqual(['a1', 'a2', 'a3', 'a4', 'a5', notice(6), 'b1']);

    now += 5999;
    await say('alice', 'a8'); // 1 ms of the window left
    expect(said()).toHaveLength(7);
    now += 1;
    await say('alice', 'a9');
    expect(said().at(-1)).toBe('a9');

    // Stopped messages are recorded and finished like any other: nothing is left to redeliver or resume.
    expect(await store.inbox.unfinished()).toEqual([]);
    expect(await metrics.value('switchboard_messages_limited_total', { platform: 'test', bot: 'chat' })).toBe(3);
    expect(await metrics.value('switchboard_messages_total', { platform: 'test', bot: 'chat', outcome: 'limited' })).toBe(3);
    expect(await metrics.value('switchboard_messages_total', { platform: 'test', bot: 'chat', outcome: 'answered' })).toBe(7);
    // Every message handled is timed, limited or not.
    const timed = await metrics.series('switchboard_message_seconds');
    expect(timed.find((s) => s.metricName === 'switchboard_message_seconds_count' && s.labels.platform === 'test')?.value).toBe(10);
  });

  it('addresses the notice to its author in a group, and counts a user across chats', async () => {
    const { say, said } = pipeline({ messages: 1, per: 60_000, notice: 'Slow down, {seconds}s left.' });
    await say('alice', 'in the dm');
    await say('alice', 'in the group', { id: 'g1', type: 'group' });
    await say('alice', 'again', { id: 'g1', type: 'group' });
    expect(said()).toEqual(['in the dm', '@alice Slow down, 60s left.']);
  });

  it('stays silent past the limit with notice: false', async () => {
    const { say, said } = pipeline({ messages: 1, per: 60_000, notice: false });
    await say('alice', 'one');
    await say('alice', 'two');
    expect(said()).toEqual(['one']);
  });
});

describe('the in-process counter', () => {
  it('holds at most maxKeys windows, drops ended ones, and counts exactly within a window', () => {
    let now = 0;
    const counter = new LocalWindowCounter({ maxKeys: 100, now: () => now });
    for (let i = 0; i < 1000; i++) {
      counter.hit(`user${i}`, 10_000);
      expect(counter.size).toBeLessThanOrEqual(100);
    }
    // The newest windows are kept, with their counts.
    expect(counter.hit('user999', 10_000)).toEqual({ count: 2, resetMs: 10_000 });
    // A hit drops the ended windows in front of the first running one.
    counter.hit('long', 60_000);
    now = 10_000;
    expect(counter.hit('late', 10_000)).toEqual({ count: 1, resetMs: 10_000 });
    expect(counter.size).toBe(2);
    // One ended behind a running one ('late', behind 'long') goes when the bound is reached.
    now = 20_000;
    for (let i = 0; i < 99; i++) counter.hit(`new${i}`, 10_000);
    expect(counter.size).toBe(90);
    expect(counter.hit('late', 10_000).count).toBe(1);
  });
});

describe('per-user limits in the config', () => {
  const parse = (yaml: string) => parseConfig(yaml, { definitions, env: {}, source: 'x.yaml', baseDir: '/' });

  it('apply the top level to every platform unless its own limits.perUser says otherwise, and leave send limits alone', () => {
    const config = parse(`limits: { perUser: { messages: 5, per: 10s } }
platforms:
  - { id: a, type: sandbox }
  - { id: b, type: sandbox, limits: { perUser: { messages: 2, per: 1m, notice: "Easy." } } }
  - { id: c, type: sandbox, limits: { perUser: false } }
  - { id: d, type: sandbox, limits: false }
`);
    const of = perUserOf(config.limits?.perUser, config.platforms)!;
    expect(of('a')).toEqual({ messages: 5, per: 10_000, notice: defaultNotice });
    expect(of('b')).toEqual({ messages: 2, per: 60_000, notice: 'Easy.' });
    expect(of('c')).toBeUndefined();
    expect(of('d')).toEqual(of('a')); // `limits: false` switches pacing off, not the per-user limit
    const limitsOf = (id: string) => sendLimitsOf((config.platforms.find((p) => p.id === id) as { limits?: never }).limits);
    expect(limitsOf('b')).toBeUndefined(); // perUser alone: the adapter's declared send limits stay
    expect(limitsOf('d')).toBe(false);
    expect(perUserOf(undefined, parse('platforms: [{ id: a, type: sandbox }]').platforms)).toBeUndefined();
  });

  it('name the key and the fix when a value is wrong', () => {
    const wrong = (limits: string, at = 'limits') => () => parse(at === 'limits' ? `limits: ${limits}\nplatforms: [{ id: a, type: sandbox }]` : `platforms: [{ id: a, type: sandbox, limits: ${limits} }]`);
    expect(wrong('{ perUser: { messages: 0, per: 10s } }')).toThrow(/limits\.perUser\.messages.*at least 1 message/);
    expect(wrong('{ perUser: { messages: 5, per: soon } }')).toThrow(/limits\.perUser\.per.*a duration like/);
    expect(wrong('{ perUser: { messages: 5, per: 0 } }')).toThrow(/limits\.perUser\.per.*above 0/);
    expect(wrong('{ perUser: { messages: 5 } }')).toThrow(/limits\.perUser\.per.*required/);
    expect(wrong('{ perUsr: { messages: 5, per: 10s } }')).toThrow(/limits\.perUsr.*did you mean "perUser"/);
    expect(wrong('{ perUser: true }', 'platform')).toThrow(/platforms\[0\]\.limits\.perUser.*expected a mapping, got boolean true/);
    expect(wrong('{ perUser: { messages: 5, per: 10s, text: hi } }', 'platform')).toThrow(/platforms\[0\]\.limits\.perUser\.text.*unknown key/);
  });
});

describe('per-user limits and onMessage', () => {
  let runtime: Runtime | undefined;
  let hooks: CallbackServer | undefined;
  afterEach(async () => {
    await runtime?.stop();
    await hooks?.stop();
    runtime = hooks = undefined;
  });

  const text = (t: string): PageSegment[] => [{ type: 'text', text: t }];

  async function run(yaml: string) {
    const started = await startRuntime(yaml);
    runtime = started.runtime;
    const api = (platform: string) => `${started.url}/sandbox/${platform}/api`;
    const say = async (user: string, message: string, platform = 'sandbox') => {
      const res = await fetch(`${api(platform)}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { id: user, name: user }, chat: { id: `dm:${user}`, type: 'direct' }, text: message }) });
      expect(res.status).toBe(202);
    };
    const botSaid = async (user: string, platform = 'sandbox') => {
      const { messages } = (await (await fetch(`${api(platform)}/chats/dm:${user}/messages`)).json()) as { messages: ChatMessage[] };
      return messages.filter((m) => m.from.isBot).map((m) => m.segments);
    };
    /** Waits until the runtime has finished `count` messages, whatever their outcome. */
    const handled = (count: number) => waitFor(() => started.logs.filter((l) => l.msg === 'message handled').length >= count, 4000, `${count} messages handled`);
    return { say, botSaid, handled };
  }

  it('tells the callback the count, and obeys its limit.exceeded: false lets one through, true stops one under the limit', async () => {
    hooks = await new CallbackServer().start();
    hooks.on('onMessage', (ctx, body) => {
      // koipy's way: the whole payload back, with the verdict changed where the operator decides.
      if (body.message.text === 'vip') ctx.body = { ...body, limit: { ...body.limit, exceeded: false } };
      else if (body.message.text === 'spam') ctx.body = { limit: { exceeded: true } };
      else ctx.body = body;
    });
    const { say, botSaid, handled } = await run(`platforms: [{ id: sandbox, type: sandbox }]
limits: { perUser: { messages: 2, per: 1m, notice: "Wait {seconds}s." } }
callbacks: { onMessage: ${hooks.url}/onMessage }
`);
    await say('alice', 'spam');
    await handled(1);
    for (const [i, t] of ['one', 'two', 'three', 'vip', 'four'].entries()) {
      await say('alice', t);
      await handled(i + 2);
    }
    // spam: under the limit, stopped by the callback, silently (the notice is for the first message past the count)
    expect(await botSaid('alice')).toEqual([text('one'), text('Wait 60s.'), text('vip')]);
    const limits = hooks.received.map((r) => r.body.limit);
    expect(limits.map((l) => [l.count, l.exceeded])).toEqual([[1, false], [2, false], [3, true], [4, true], [5, true], [6, true]]);
    for (const limit of limits) expect(limit).toEqual({ count: expect.any(Number), max: 2, windowMs: 60_000, resetMs: expect.any(Number), exceeded: expect.any(Boolean) });
    expect(limits[0].resetMs).toBeGreaterThan(55_000);
    expect(limits[0].resetMs).toBeLessThanOrEqual(60_000);
    expect(await runtime!.metrics.value('switchboard_messages_limited_total', { platform: 'sandbox', bot: 'sandbox' })).toBe(4);
  });

  it('sends no limit field where no limit applies, and a platform\'s own limit wins over the top level', async () => {
    hooks = await new CallbackServer().start();
    const { say, botSaid, handled } = await run(`platforms:
  - { id: sandbox, type: sandbox }
  - { id: strict, type: sandbox, limits: { perUser: { messages: 1, per: 1m, notice: "Strict." } } }
  - { id: free, type: sandbox, limits: { perUser: false } }
limits: { perUser: { messages: 2, per: 1m, notice: "Top." } }
callbacks: { onMessage: ${hooks.url}/onMessage }
`);
    let n = 0;
    for (const platform of ['sandbox', 'strict', 'free']) {
      for (const t of ['1', '2', '3']) {
        await say('alice', t, platform);
        await handled(++n);
      }
    }
    expect(await botSaid('alice', 'sandbox')).toEqual([text('1'), text('2'), text('Top.')]);
    expect(await botSaid('alice', 'strict')).toEqual([text('1'), text('Strict.')]);
    expect(await botSaid('alice', 'free')).toEqual([text('1'), text('2'), text('3')]);
    const told = (platform: string) => hooks!.received.filter((r) => r.body.bot.id === platform).map((r) => r.body.limit?.max);
    expect([told('sandbox'), told('strict'), told('free')]).toEqual([[2, 2, 2], [1, 1, 1], [undefined, undefined, undefined]]);
  });
});

describe('per-user limits on one Redis', () => {
  const prefix = testPrefix('limits');
  const stores: RedisStore[] = [];
  beforeAll(() => requireRedis());
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await dropPrefix(prefix);
  });
  const open = async () => {
    const store = await RedisStore.open({ url: redisUrl, prefix });
    stores.push(store);
    return store;
  };

  it('shares one count between two instances: the user is answered 5 times in all, and told once', async () => {
    const a = pipeline({ messages: 5, per: 60_000, notice: 'Enough.' }, { store: await open() });
    const b = pipeline({ messages: 5, per: 60_000, notice: 'Enough.' }, { store: await open() });
    for (let i = 1; i <= 8; i++) await (i % 2 ? a : b).say('carol', `c${i}`);
    expect([...a.said(), ...b.said()].sort()).toEqual(['Enough.', 'c1', 'c2', 'c3', 'c4', 'c5']);
    expect(b.said()).toContain('Enough.'); // the 6th went through b
  });

  it('never gives two concurrent hits the same count', async () => {
    const [x, y] = [new RedisWindowCounter(await open()), new RedisWindowCounter(await open())];
    const counts = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? x : y).hit('chat:dave', 60_000)));
    expect(counts.map((c) => c.count).sort((p, q) => p - q)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    for (const { resetMs } of counts) expect(resetMs).toBeGreaterThan(50_000);
  });

  it('starts a new window once the last one has expired on the server', async () => {
    const counter = new RedisWindowCounter(await open());
    expect(await counter.hit('chat:erin', 200)).toEqual({ count: 1, resetMs: 200 });
    expect((await counter.hit('chat:erin', 200)).count).toBe(2);
    // Hit until a hit opens a new window: the key expired, it did not keep counting.
    const fresh = await waitFor(async () => {
      const hit = await counter.hit('chat:erin', 200);
      return hit.count === 1 && hit;
    }, 3000, 'a new window');
    expect(fresh.resetMs).toBe(200);
  });
});
