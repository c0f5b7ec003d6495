// The ctx.state API's own promises, on the memory store a test kit uses: TTLs as an author writes
// them, values copied as the durable stores copy them, scopes that ids cannot cross, clear errors
// for what it cannot keep, and state on platform events.

import { describe, expect, it } from 'vitest';
import { EventContext, runInterceptors, type Interceptor, type PlatformEvent } from '../src/bot/events.js';
import type { Message } from '../src/message.js';
import { State } from '../src/bot/state.js';
import { MemoryStore } from '../src/store/index.js';
import { captureLogs } from './helpers.js';

const clockedStore = () => {
  const clock = { now: 1_000_000 };
  return { clock, store: new MemoryStore(100_000, () => clock.now) };
};

describe('ctx.state', () => {
  it('lets a value live for a TTL written as a duration or in ms; one set without a TTL lives on', async () => {
    const { clock, store } = clockedStore();
    const { user } = new State(store, 'tg', 'u1', 'c1');
    await user.set('code', '1234', { ttl: '10m' });
    await user.set('flag', true, { ttl: 1500 });
    await user.update<number>('tries', (n) => (n ?? 0) + 1, { ttl: '2h' });
    await user.set('name', 'Una');
    clock.now += 1499;
    expect([await user.get('code'), await user.get('flag')]).toEqual(['1234', true]);
    clock.now += 1;
    expect(await user.get('flag')).toBeUndefined();
    clock.now += 10 * 60_000;
    expect([await user.get('code'), await user.get<number>('tries'), await user.get('name')]).toEqual([undefined, 1, 'Una']);
    clock.now += 2 * 3_600_000;
    expect([await user.get('tries'), await user.get('name')]).toEqual([undefined, 'Una']);
  });

  it('gives a copy: changing what get returned changes nothing until it is set', async () => {
    const { store } = clockedStore();
    const { chat } = new State(store, 'tg', 'u1', 'c1');
    await chat.set('cart', ['tea']);
    const cart = (await chat.get<string[]>('cart'))!;
    cart.push('cake');
    expect(await chat.get('cart')).toEqual(['tea']);
    await chat.set('cart', cart);
    expect(await chat.get('cart')).toEqual(['tea', 'cake']);
    await chat.set('cart', undefined);
    expect(await chat.get('cart')).toBeUndefined();
  });

  it('keeps user and chat ids holding ":" or "%" apart from ids they could be mistaken for', async () => {
    const { store } = clockedStore();
    await new State(store, 'tg', 'a', 'x').user.set('b:k', 'of user a');
    await new State(store, 'tg', 'a%3Ab', 'x').user.set('k', 'of user a%3Ab');
    expect(await new State(store, 'tg', 'a:b', 'x').user.get('k')).toBeUndefined();
    await new State(store, 'tg', 'a:b', 'x').user.set('k', 'of user a:b');
    expect(await new State(store, 'tg', 'a', 'x').user.get('b:k')).toBe('of user a');
    expect(await new State(store, 'tg', 'a%3Ab', 'x').user.get('k')).toBe('of user a%3Ab');
    // A user and a chat with one id are two scopes.
    expect(await new State(store, 'tg', 'u', 'a:b').chat.get('k')).toBeUndefined();
  });

  it('refuses what it cannot keep with an error naming the scope, the key and what is expected, and changes nothing', async () => {
    const { store } = clockedStore();
    const { user, bot } = new State(store, 'tg', 'u1', 'c1');
    await user.set('n', 1);
    await expect(user.set('n', 2, { ttl: 'soon' })).rejects.toThrow('ctx.state.user "n": ttl is a duration like 30s, 10m or 7d, or a positive number of milliseconds; got "soon"');
    await expect(user.set('n', 2, { ttl: 0 })).rejects.toThrow(/ttl is a duration/);
    await expect(bot.set('f', () => 1)).rejects.toThrow('ctx.state.bot "f": values are JSON (strings, numbers, booleans, null, arrays, plain objects); got a function');
    await expect(user.update('n', () => 10n as unknown as number)).rejects.toThrow(/got a bigint/);
    await expect(user.get('')).rejects.toThrow('ctx.state.user: a key is a non-empty string, got an empty one');
    expect(await user.get('n')).toBe(1);
  });

  it('is on platform events too, sharing the bot scope with messages; a scope the event does not name says so', async () => {
    const { store } = clockedStore();
    await new State(store, 'im', 'u1', 'g1').bot.set('joined', 3);
    const event: PlatformEvent = { id: 'e1', platform: 'tencent-im', botId: 'im', type: 'Group.CallbackAfterNewMemberJoin', channel: { id: 'g1', type: 'group' }, data: {}, timestamp: 0 };
    const ctx = new EventContext(event, captureLogs().logger, store);
    expect(await ctx.state.bot.update<number>('joined', (n) => (n ?? 0) + 1)).toBe(4);
    await ctx.state.chat.set('welcomed', true);
    expect(await new State(store, 'im', 'u1', 'g1').chat.get('welcomed')).toBe(true);
    expect(() => ctx.state.user).toThrow('ctx.state.user: this event names no user (use ctx.state.bot or ctx.state.global)');
  });

  it('is on interceptors, for the sending user and chat: a user allowed two messages a minute is denied the third', async () => {
    const { clock, store } = clockedStore();
    const limit: Interceptor = async (ctx) => {
      const sent = await ctx.state.user.update<number>('sent', (n) => (n ?? 0) + 1, { ttl: '1m' });
      if (sent! > 2) return ctx.deny('slow down');
    };
    const message = (from: string): Message => ({ id: 'm', platform: 'tencent-im', botId: 'im', channel: { id: 'g1', type: 'group' }, author: { id: from, isBot: false }, content: [], text: 'hi', mentionsBot: false, timestamp: 0, raw: {} });
    const { logger } = captureLogs();
    const decide = async (from: string) => (await runInterceptors([limit], message(from), 'Group.CallbackBeforeSendMsg', logger, store)).action;
    expect([await decide('u1'), await decide('u1'), await decide('u2'), await decide('u1')]).toEqual(['allow', 'allow', 'allow', 'deny']);
    expect(await new State(store, 'im', 'u1', 'g1').user.get('sent')).toBe(3);
    clock.now += 60_000;
    expect(await decide('u1')).toBe('allow');
  });
});
