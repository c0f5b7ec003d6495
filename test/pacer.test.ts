import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SharedPacer } from '../src/cluster/shared-pacer.js';
import { Pacer, type SendLimits } from '../src/delivery/pacer.js';
import { RedisStore } from '../src/store/redis/index.js';
import { waitFor } from './helpers.js';
import { dropPrefix, redisUrl, requireRedis, testPrefix } from './redis.js';
import { TokenCache } from '../src/delivery/token-cache.js';

function clocked(limits: SendLimits | undefined) {
  let now = 1_000_000;
  const pacer = new Pacer(() => limits, () => now);
  return { pacer, advance: (ms: number) => (now += ms), wait: (channelId: string, type?: 'direct' | 'group') => pacer.reserve({ botId: 'b', channelId, type }) };
}

describe('pacer', () => {
  it('lets a burst through, then spaces one chat to its rate; other chats are not held up', () => {
    const { wait, advance } = clocked({ chat: { count: 1, perMs: 1000, burst: 3 } });
    expect([wait('a'), wait('a'), wait('a'), wait('a'), wait('a')]).toEqual([0, 0, 0, 1000, 2000]);
    expect(wait('other')).toBe(0);
    advance(10_000); // a quiet spell refills the burst
    expect([wait('a'), wait('a'), wait('a'), wait('a')]).toEqual([0, 0, 0, 1000]);
  });

  it('holds every chat to the bot-wide rate as well, and uses the limit of the chat type', () => {
    const { wait } = clocked({ bot: { count: 10, perMs: 1000 }, chat: { group: { count: 20, perMs: 60_000 }, default: { count: 1, perMs: 100 } } });
    // Bot-wide: one every 100 ms whichever chat asks.
    expect([wait('x', 'direct'), wait('y', 'direct'), wait('z', 'direct')]).toEqual([0, 100, 200]);
    // A group: 20 a minute, one every 3 s; its first send still queues behind the bot-wide ones.
    expect(wait('g', 'group')).toBe(300);
    expect(wait('g', 'group')).toBe(3300);
  });

  it("holds a chat for the wait a platform asked for, even where no limit was declared", () => {
    const { pacer, wait, advance } = clocked(undefined);
    expect(wait('a')).toBe(0);
    pacer.hold({ botId: 'b', channelId: 'a' }, 5000, 'chat');
    expect(wait('a')).toBe(5000);
    expect(wait('other')).toBe(0);
    advance(6000);
    expect(wait('a')).toBe(0);
  });

  it('forgets drained buckets under constant load, and holds at most maxBuckets', () => {
    let now = 1_000_000;
    const limits: SendLimits = { chat: { count: 1, perMs: 1000, burst: 2 } };
    const pacer = new Pacer(() => limits, () => now, { maxBuckets: 500 });
    // A new chat every millisecond, each drained a second after its send: about 1000 are running at any time.
    for (let i = 0; i < 5000; i++, now++) pacer.reserve({ botId: 'b', channelId: `c${i}` });
    expect(pacer.size).toBeLessThanOrEqual(500);
    expect(pacer.size).toBeGreaterThan(0);
    // Drained ones went first, then the oldest; the newest chat keeps its pace: its send 1 ms ago still
    // counts (a fresh bucket would say [0, 1000]).
    const last = { botId: 'b', channelId: 'c4999' };
    expect([pacer.reserve(last), pacer.reserve(last)]).toEqual([0, 999]);
    // Holds count against the bound too.
    for (let i = 0; i < 2000; i++) pacer.hold({ botId: 'b', channelId: `d${i}` }, 60_000, 'chat');
    expect(pacer.size).toBeLessThanOrEqual(500);
    // Quiet: the next sweep drops every drained bucket.
    now += 120_000;
    for (let i = 0; i < 1000; i++) pacer.reserve({ botId: 'b', channelId: 'one' });
    expect(pacer.size).toBe(1);
  });

  it('ends a wait at once on abort', async () => {
    const { pacer } = clocked({ chat: { count: 1, perMs: 60_000 } });
    await pacer.take({ botId: 'b', channelId: 'a' });
    const controller = new AbortController();
    const waiting = pacer.take({ botId: 'b', channelId: 'a' }, controller.signal);
    controller.abort();
    expect(await waiting).toBe(false);
  });
});

describe('pacer shared through Redis', () => {
  const prefix = testPrefix('pacer');
  const stores: RedisStore[] = [];
  beforeAll(() => requireRedis());
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await dropPrefix(prefix);
  });
  /** Two instances' pacers: two connections, one prefix. */
  const two = async (limits: SendLimits) => {
    const opened = await Promise.all([RedisStore.open({ url: redisUrl, prefix }), RedisStore.open({ url: redisUrl, prefix })]);
    stores.push(...opened);
    return opened.map((store) => new SharedPacer(store, () => limits));
  };

  it('keeps two instances together within the rate: no window holds more sends than the rate and the burst allow', async () => {
    const [a, b] = await two({ bot: { count: 20, perMs: 1000, burst: 3 }, chat: { count: 1, perMs: 10 } });
    // 40 sends at once, half from each instance, to 8 chats of one bot.
    const slots = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b)!.reserveAt({ botId: 'shared', channelId: `c${i % 8}` })));
    const at = slots.map((s) => s!.at).sort((x, y) => x - y);
    // GCRA with 50 ms spacing and a burst of 3: any n sends span at least (n - 3) * 50 ms.
    for (let i = 0; i < at.length; i++) for (let j = i + 3; j < at.length; j++) expect(at[j]! - at[i]!).toBeGreaterThanOrEqual((j - i + 1 - 3) * 50 - 0.01);
    expect(at.at(-1)! - at[0]!).toBeGreaterThanOrEqual((40 - 3) * 50 - 0.01);
    // Both instances were held back, not only the one that came second.
    const waits = await Promise.all([a!.reserve({ botId: 'shared', channelId: 'x' }), b!.reserve({ botId: 'shared', channelId: 'y' })]);
    for (const wait of waits) expect(wait).toBeGreaterThan(1000);
  });

  it('holds every instance for the wait a platform asked of one', async () => {
    const [a, b] = await two({});
    expect(await b!.reserve({ botId: 'held', channelId: 'c' })).toBe(0);
    a!.hold({ botId: 'held', channelId: 'c' }, 5000, 'chat');
    await waitFor(async () => (await b!.reserve({ botId: 'held', channelId: 'c' })) > 4000, 3000, 'the hold on the other instance');
    expect(await b!.reserve({ botId: 'held', channelId: 'other' })).toBe(0);
  });

  it('waits for its turn in take(), as the local pacer does', async () => {
    const [a, b] = await two({ chat: { count: 1, perMs: 150 } });
    const started = performance.now();
    await Promise.all([a!.take({ botId: 'take', channelId: 'c' }), b!.take({ botId: 'take', channelId: 'c' }), a!.take({ botId: 'take', channelId: 'c' })]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(295);
  });
});

describe('token cache', () => {
  it('fetches once for many callers, reuses the token until shortly before it expires, and refetches a refused one', async () => {
    let now = 0;
    let fetches = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const cache = new TokenCache(async () => {
      fetches++;
      await gate;
      return { value: `t${fetches}`, ttlMs: 7_200_000 };
    }, { now: () => now });
    const first = Promise.all([cache.get(), cache.get(), cache.get()]);
    release();
    expect(await first).toEqual(['t1', 't1', 't1']);
    now += 7_200_000 - 300_001; // just before the refresh point (5 minutes ahead)
    expect(await cache.get()).toBe('t1');
    now += 2;
    expect(await cache.get()).toBe('t2');
    cache.invalidate('t1'); // an old token's refusal does not drop the new one
    expect(await cache.get()).toBe('t2');
    cache.invalidate('t2');
    expect(await cache.get()).toBe('t3');
    expect(fetches).toBe(3);
  });

  it('keeps a still-valid token when a refresh fails for a passing reason, not when the credentials were refused', async () => {
    let now = 0;
    let fail: Error | undefined;
    const cache = new TokenCache(
      async () => {
        if (fail) throw fail;
        return { value: 'old', ttlMs: 600_000 };
      },
      { now: () => now, keepOnFailure: (error) => !(error as Error).message.includes('refused') },
    );
    expect(await cache.get()).toBe('old');
    now += 500_000; // past the refresh point, before expiry
    fail = new Error('endpoint down');
    expect(await cache.get()).toBe('old');
    fail = new Error('credentials refused');
    await expect(cache.get()).rejects.toThrow('credentials refused');
  });
});

describe('limits in the config', () => {
  it("replace the adapter's declared limits, or switch pacing off, and a mistake names the key", async () => {
    const { parseConfig } = await import('../src/runtime/config.js');
    const { definitions } = await import('../src/runtime/registry.js');
    const parse = (limits: string) => parseConfig(`platforms:\n  - { id: s, type: sandbox, limits: ${limits} }`, { definitions, env: {}, source: 'x.yaml', baseDir: '/' });
    expect((parse('false').platforms[0] as { limits?: unknown }).limits).toBe(false);
    expect((parse('{ bot: { count: 1000, per: 1s }, chat: { group: { count: 20, per: 1m, burst: 3 } } }').platforms[0] as { limits?: unknown }).limits).toEqual({
      bot: { count: 1000, perMs: 1000 },
      chat: { group: { count: 20, perMs: 60_000, burst: 3 } },
    });
    expect(() => parse('{ bot: { count: 10, per: soon } }')).toThrow(/platforms\[0\]\.limits\.bot\.per.*a duration like/);
    expect(() => parse('{ global: { count: 10, per: 1s } }')).toThrow(/platforms\[0\]\.limits.*unknown key "global"/);
  });
});
