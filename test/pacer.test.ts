import { describe, expect, it } from 'vitest';
import { Pacer, type SendLimits } from '../src/delivery/pacer.js';
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

  it('ends a wait at once on abort', async () => {
    const { pacer } = clocked({ chat: { count: 1, perMs: 60_000 } });
    await pacer.take({ botId: 'b', channelId: 'a' });
    const controller = new AbortController();
    const waiting = pacer.take({ botId: 'b', channelId: 'a' }, controller.signal);
    controller.abort();
    expect(await waiting).toBe(false);
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
