import { describe, expect, it } from 'vitest';
import type { Adapter } from '../src/adapter.js';
import { defineBot } from '../src/bot/bot.js';
import type { StageData, StageHooks } from '../src/pipeline/lifecycle.js';
import { silentLogger } from '../src/runtime/logger.js';
import type { Message } from '../src/message.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { MemoryStore, StoreError, type NewEvent } from '../src/store/index.js';
import { heldEchoBot, sleep, waitFor } from './helpers.js';
import { recorder } from './recorder.js';

function message(text: string, id = '1', channel = 'c1'): Message {
  return { id, platform: 'test', botId: 'chat', channel: { id: channel, type: 'direct' }, author: { id: 'u1', isBot: false }, content: [{ type: 'text', text }], text, mentionsBot: false, timestamp: 0, raw: {} };
}

const echo = defineBot((b) => {
  b.command('ping', () => 'pong');
  b.command('secret', () => 'classified');
  b.route('vip', (ctx) => `VIP: ${ctx.text}`);
  b.on('message', (ctx) => ctx.reply(ctx.text, { quote: false }));
});

function pipeline(hooks: StageHooks = {}, failFor?: string) {
  const rec = recorder(failFor);
  const p = new Pipeline({ bot: echo, adapters: new Map([['chat', rec.adapter]]), store: new MemoryStore(), logger: silentLogger(), hooks });
  const send = async (m: Message, key?: string) => {
    const admission = await p.dispatch('chat', { key, normalize: () => m });
    await p.drain();
    return admission;
  };
  return { p, send, ...rec };
}

describe('pipeline', () => {
  it('drops a repeated event key and handles each new one once', async () => {
    const { send, texts } = pipeline();
    expect(await send(message('a'), 'k1')).toBe('accepted');
    expect(await send(message('a again'), 'k1')).toBe('duplicate');
    expect(await send(message('b'), 'k2')).toBe('accepted');
    expect(texts()).toEqual(['a', 'b']);
  });

  it('calls no stage when none is configured and answers in reply order', async () => {
    const { send, sent } = pipeline();
    await send(message('/ping'));
    expect(sent).toEqual([{ to: { botId: 'chat', channelId: 'c1', type: 'direct' }, content: [{ type: 'text', text: 'pong' }], replyTo: '1', inResponseTo: '1' }]);
  });

  it('stops at onMessage on reject and shows the reply', async () => {
    const seen: string[] = [];
    const { send, texts } = pipeline({
      onMessage: async () => ({ kind: 'reject', reply: [{ type: 'text', text: 'you are blocked' }] }),
      onPreSend: async () => (seen.push('preSend'), { kind: 'continue' }),
    });
    await send(message('/ping'));
    expect(texts()).toEqual(['you are blocked']);
    expect(seen).toEqual([]);
  });

  it('lets onMessage replace the message and onPreSend re-route the request', async () => {
    const { send, texts } = pipeline({
      onMessage: async (_s, data) => ({ kind: 'continue', data: { ...data.message, text: data.message.text.toUpperCase() } }),
      onPreSend: async (_s, data) => ({ kind: 'continue', data: data.request!.command === 'secret' ? { ...data.request!, route: 'vip' } : data.request! }),
    });
    await send(message('hello'));
    await send(message('/secret', '2'));
    expect(texts()).toEqual(['HELLO', 'VIP: /SECRET']);
  });

  it('lets onResult rewrite replies, and sends extra content after them, in order', async () => {
    const { send, texts } = pipeline({
      onMessage: async () => ({ kind: 'continue', extra: [[{ type: 'text', text: 'extra from onMessage' }]] }),
      onResult: async (_s, data) => ({
        kind: 'continue',
        data: { ...data.result!, replies: data.result!.replies.map((r) => ({ ...r, content: [{ type: 'text' as const, text: 'rewritten' }] })) },
        extra: [[{ type: 'image', url: 'http://127.0.0.1/x.png' }]],
      }),
    });
    await send(message('hi'));
    expect(texts()).toEqual(['rewritten', 'extra from onMessage', '[image]']);
  });

  it('runs onSent after delivery with the receipts, without delaying the reply', async () => {
    let sentData: StageData | undefined;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { p, texts } = pipeline({
      onSent: async (_s, data) => {
        await gate;
        sentData = data;
        return { kind: 'continue', extra: [[{ type: 'text', text: 'receipt noted' }]] };
      },
    });
    await p.dispatch('chat', { normalize: () => message('/ping') });
    await waitFor(() => texts().length === 1);
    expect(sentData).toBeUndefined();
    release();
    await p.drain();
    expect(sentData!.deliveries).toEqual([{ ok: true, ids: ['m1'], ms: expect.any(Number) }]);
    expect(texts()).toEqual(['pong', 'receipt noted']);
  });

  it('keeps going when a hook throws, and reports failed deliveries', async () => {
    let deliveries: StageData['deliveries'];
    const { send, texts } = pipeline(
      {
        onPreSend: async () => {
          throw new Error('hook bug');
        },
        onSent: async (_s, data) => ((deliveries = data.deliveries), { kind: 'continue' }),
      },
      'unlucky',
    );
    await send(message('unlucky'));
    await sleep(5);
    expect(texts()).toEqual(['unlucky']);
    expect(deliveries).toEqual([{ ok: false, ids: [], error: 'refused', ms: expect.any(Number) }]);
  });

  it('handles one chat in arrival order while other chats go on', async () => {
    const order: string[] = [];
    const slow = defineBot((b) =>
      b.on('message', async (ctx) => {
        if (ctx.text === 'slow') await sleep(50);
        order.push(ctx.text);
      }),
    );
    const rec = recorder();
    const p = new Pipeline({ bot: slow, adapters: new Map([['chat', rec.adapter]]), store: new MemoryStore(), logger: silentLogger() });
    await p.dispatch('chat', { normalize: () => message('slow', '1', 'a') });
    await p.dispatch('chat', { normalize: () => message('after slow', '2', 'a') });
    await p.dispatch('chat', { normalize: () => message('other chat', '3', 'b') });
    await p.drain();
    expect(order).toEqual(['other chat', 'slow', 'after slow']);
  });

  it('refuses new events once closed and drains in-flight ones', async () => {
    const { p, texts } = pipeline();
    await p.dispatch('chat', { normalize: () => message('in flight') });
    p.close();
    expect(await p.dispatch('chat', { normalize: () => message('too late') })).toBe('closed');
    expect(await p.drain(1000)).toBe(0);
    expect(texts()).toEqual(['in flight']);
  });

  it('holds back new events while maxInFlight messages are being handled, and loses none of them', async () => {
    const rec = recorder();
    const { bot: slow, release } = heldEchoBot();
    const p = new Pipeline({ bot: slow, adapters: new Map([['chat', rec.adapter]]), store: new MemoryStore(), logger: silentLogger(), maxInFlight: 2 });
    const admissions = ['a', 'b', 'c'].map((text, i) => p.dispatch('chat', { key: text, normalize: () => message(text, String(i), `chat-${text}`) }));
    let third = 'waiting';
    void admissions[2]!.then((a) => (third = a));
    expect(await admissions[0]).toBe('accepted');
    expect(await admissions[1]).toBe('accepted');
    await sleep(50);
    expect(third).toBe('waiting');
    release();
    expect(await admissions[2]).toBe('accepted');
    await p.drain(1000);
    expect(rec.texts().sort()).toEqual(['a', 'b', 'c']);
  });

  it('tells a dispatch still waiting for a slot at shutdown that it was not taken, so the platform delivers it again', async () => {
    const rec = recorder();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = defineBot((b) => b.on('message', async () => void (await gate)));
    const p = new Pipeline({ bot: slow, adapters: new Map([['chat', rec.adapter]]), store: new MemoryStore(), logger: silentLogger(), maxInFlight: 1 });
    expect(await p.dispatch('chat', { key: 'a', normalize: () => message('a') })).toBe('accepted');
    const waiting = p.dispatch('chat', { key: 'b', normalize: () => message('b') });
    p.close();
    expect(await waiting).toBe('closed');
    release();
    expect(await p.drain(1000)).toBe(0);
  });

  it('waits at shutdown for an event still being admitted (dedup and normalize are under way)', async () => {
    const { p, texts } = pipeline();
    let normalized!: () => void;
    const admission = p.dispatch('chat', { key: 'k1', normalize: () => new Promise<Message>((resolve) => (normalized = () => resolve(message('admitting')))) });
    await waitFor(() => normalized !== undefined, 1000, 'normalize to start');
    p.close();
    const drained = p.drain(2000);
    normalized();
    expect(await admission).toBe('accepted');
    expect(await drained).toBe(0);
    expect(texts()).toEqual(['admitting']);
  });
});

/** A store whose connection can drop while an admission is on its way: its write lands or not, its answer is lost. */
class DroppingStore extends MemoryStore {
  private up = true;
  private drop: { lands: boolean } | undefined;
  private readonly listeners: ((available: boolean) => void)[] = [];

  /** Calls of the writes that record a send and an event's end, with whether the store was up. */
  readonly bookkeeping: string[] = [];

  constructor() {
    super();
    const delivered = this.outbox.delivered.bind(this.outbox);
    this.outbox.delivered = async (key, ids) => {
      this.bookkeeping.push(`delivered ${this.up ? 'up' : 'down'}`);
      if (!this.up) throw new StoreError('the store is down');
      return delivered(key, ids);
    };
    const finish = this.inbox.finish.bind(this.inbox);
    this.inbox.finish = async (id, options) => {
      this.bookkeeping.push(`finish${options?.replies && options.delivered ? ' with delivered' : ''} ${this.up ? 'up' : 'down'}`);
      if (!this.up) throw new StoreError('the store is down');
      return finish(id, options);
    };
    const admit = this.inbox.admit.bind(this.inbox);
    this.inbox.admit = async (event: NewEvent, ttlMs: number) => {
      if (!this.up) throw new StoreError('the store is down');
      const drop = this.drop;
      if (!drop) return admit(event, ttlMs);
      this.drop = undefined;
      if (drop.lands) await admit(event, ttlMs);
      this.change(false);
      throw new StoreError('the connection closed while the write was on its way');
    };
  }

  override get available(): boolean {
    return this.up;
  }

  onAvailability(listener: (available: boolean) => void): void {
    this.listeners.push(listener);
  }

  dropDuringNextAdmission(lands: boolean): void {
    this.drop = { lands };
  }

  change(up: boolean): void {
    this.up = up;
    for (const listener of this.listeners) listener(up);
  }
}

describe('admissions in doubt', () => {
  it('handles an event recorded although its admission failed once the store is back (its redelivery is a duplicate); one that did not land is taken on redelivery', async () => {
    const rec = recorder();
    const store = new DroppingStore();
    const p = new Pipeline({ bot: echo, adapters: new Map([['chat', rec.adapter]]), store, logger: silentLogger() });
    const deliver = (key: string, text: string) => p.dispatch('chat', { key, normalize: () => message(text) });

    store.dropDuringNextAdmission(true);
    expect(await deliver('k1', 'recorded all the same')).toBe('closed');
    expect(await deliver('k1', 'recorded all the same')).toBe('closed'); // redelivered while the store is down
    store.change(true);
    await waitFor(() => rec.texts().length === 1, 2000, 'the event found recorded to be answered');
    expect(await deliver('k1', 'recorded all the same')).toBe('duplicate');

    store.dropDuringNextAdmission(false);
    expect(await deliver('k2', 'lost on the way')).toBe('closed');
    store.change(true);
    expect(await deliver('k2', 'lost on the way')).toBe('accepted');
    await p.drain();
    expect(rec.texts()).toEqual(['recorded all the same', 'lost on the way']);
  });
});

/** An adapter whose every send the platform takes while the store's connection drops: what records it fails at first. */
function dropsAsItSends(store: DroppingStore, sent: string[]): Adapter {
  return { id: 'chat', type: 'test', start: async () => {}, stop: async () => {}, send: async (m) => {
    sent.push(m.content.map((c) => (c.type === 'text' ? c.text : c.type)).join(''));
    store.change(false);
    return { ok: true, ids: [`m${sent.length}`], ms: 1 };
  } };
}

describe('a store that drops after a reply went out', () => {
  it('records the delivery with the event\'s end, in one write, once it is back, so a restart sends nothing again', async () => {
    const store = new DroppingStore();
    const sent: string[] = [];
    const adapter = dropsAsItSends(store, sent);
    const p = new Pipeline({ bot: echo, adapters: new Map([['chat', adapter]]), store, logger: silentLogger() });
    expect(await p.dispatch('chat', { key: 'k1', normalize: () => message('sent in the outage') })).toBe('accepted');
    await waitFor(() => store.bookkeeping.includes('finish with delivered down'), 5000, 'the bookkeeping to fail while the store is down');
    store.change(true);
    await p.drain();
    await waitFor(async () => (await store.inbox.unfinished()).length === 0, 5000, 'the event finished once the store is back');
    expect((await store.outbox.list('pending')).length).toBe(0);
    expect(store.bookkeeping.filter((b) => b.endsWith(' up'))).toEqual(['finish with delivered up']);

    const restarted = new Pipeline({ bot: echo, adapters: new Map([['chat', adapter]]), store, logger: silentLogger() });
    expect(await restarted.resume(Promise.resolve())).toEqual({ events: 0, items: 0 });
    await restarted.drain();
    expect(sent).toEqual(['sent in the outage']);
  });

  it('marks each reply but the last as it goes, and the last with the event\'s end: after the outage and a restart, none is sent again', async () => {
    const store = new DroppingStore();
    const sent: string[] = [];
    const adapter = dropsAsItSends(store, sent);
    const twice = defineBot((b) => b.on('message', async (ctx) => {
      await ctx.reply('one', { quote: false });
      await ctx.reply('two', { quote: false });
    }));
    const p = new Pipeline({ bot: twice, adapters: new Map([['chat', adapter]]), store, logger: silentLogger() });
    expect(await p.dispatch('chat', { key: 'k1', normalize: () => message('hi') })).toBe('accepted');
    await waitFor(() => store.bookkeeping.includes('finish with delivered down'), 5000, 'the bookkeeping to fail while the store is down');
    expect(store.bookkeeping).toEqual(['delivered down', 'finish with delivered down']);
    store.change(true);
    await p.drain();
    await waitFor(async () => (await store.inbox.unfinished()).length === 0, 5000, 'the event finished once the store is back');
    expect((await store.outbox.list('pending')).length + (await store.outbox.list('delivered')).length).toBe(0);
    expect(store.bookkeeping.filter((b) => b.endsWith(' up')).sort()).toEqual(['delivered up', 'finish with delivered up']);

    const restarted = new Pipeline({ bot: twice, adapters: new Map([['chat', adapter]]), store, logger: silentLogger() });
    expect(await restarted.resume(Promise.resolve())).toEqual({ events: 0, items: 0 });
    await restarted.drain();
    expect(sent).toEqual(['one', 'two']);
  });
});

describe('platform events and interception', () => {
  it('runs event handlers and the onEvent hook, then delivers what handlers sent', async () => {
    const seen: string[] = [];
    const bot = defineBot((b) =>
      b.on('event', (ctx) => {
        seen.push(ctx.event.type);
        ctx.send({ botId: 'chat', channelId: 'c9' }, `welcome, ${(ctx.event.data as { who: string }).who}`);
      }),
    );
    const rec = recorder();
    const observed: string[] = [];
    const p = new Pipeline({ bot, adapters: new Map([['chat', rec.adapter]]), store: new MemoryStore(), logger: silentLogger(), hooks: { onEvent: async (e) => void observed.push(e.id) } });
    const joined = { id: 'e1', platform: 'test', botId: 'chat', type: 'Group.MemberJoined', data: { who: 'Ann' }, timestamp: 0 };
    expect(await p.emit('chat', joined, 'k-e1')).toBe('accepted');
    expect(await p.emit('chat', joined, 'k-e1')).toBe('duplicate');
    await p.drain();
    expect(seen).toEqual(['Group.MemberJoined']);
    expect(observed).toEqual(['e1']);
    expect(rec.texts()).toEqual(['welcome, Ann']);
    p.close();
    expect(await p.emit('chat', { id: 'e2', platform: 'test', botId: 'chat', type: 'x', data: {}, timestamp: 0 })).toBe('closed');
  });

  it('hands platform events to the bot that start --watch swapped in, as it does messages', async () => {
    const greeter = (greeting: string) => defineBot((b) => b.on('event', (ctx) => void ctx.send({ botId: 'chat', channelId: 'c9' }, greeting)));
    const rec = recorder();
    const p = new Pipeline({ bot: greeter('old'), adapters: new Map([['chat', rec.adapter]]), store: new MemoryStore(), logger: silentLogger() });
    const event = (id: string) => ({ id, platform: 'test', botId: 'chat', type: 'Group.MemberJoined', data: {}, timestamp: 0 });
    await p.emit('chat', event('e1'), 'k-e1');
    await p.drain();
    p.setBot(greeter('new'));
    await p.emit('chat', event('e2'), 'k-e2');
    await p.drain();
    expect(rec.texts()).toEqual(['old', 'new']);
  });

  it('asks interceptors in order: rewrites chain, a deny or drop ends it, none means no question at all', async () => {
    const none = new Pipeline({ bot: echo, adapters: new Map(), store: new MemoryStore(), logger: silentLogger() });
    expect(none.intercept(message('hi'), 'C2C.CallbackBeforeSendMsg')).toBeUndefined();
    const bot = defineBot((b) => {
      b.intercept((ctx) => (ctx.message.text.includes('spam') ? ctx.drop() : undefined));
      b.intercept((ctx) => (ctx.message.text.includes('darn') ? ctx.rewrite(ctx.message.text.replace('darn', '****')) : undefined));
      b.intercept((ctx) => (ctx.message.content.some((s) => s.type === 'text' && s.text.includes('****')) ? ctx.rewrite([...ctx.message.content, { type: 'text', text: ' [edited]' }]) : ctx.allow()));
      b.intercept((ctx) => (ctx.message.author.id === 'banned' ? ctx.deny('you are muted') : undefined));
    });
    const p = new Pipeline({ bot, adapters: new Map(), store: new MemoryStore(), logger: silentLogger() });
    expect(await p.intercept(message('buy spam'), 'k')).toEqual({ action: 'drop' });
    expect(await p.intercept(message('oh darn'), 'k')).toEqual({ action: 'rewrite', content: [{ type: 'text', text: 'oh ****' }, { type: 'text', text: ' [edited]' }] });
    expect(await p.intercept(message('hello'), 'k')).toEqual({ action: 'allow' });
    expect(await p.intercept({ ...message('hello'), author: { id: 'banned', isBot: false } }, 'k')).toEqual({ action: 'deny', reason: 'you are muted' });
  });
});

describe('poison events', () => {
  it('logs and consumes an event whose payload cannot be normalized, and keeps going', async () => {
    const { p, send, texts } = pipeline();
    expect(await p.dispatch('chat', { key: 'bad', normalize: () => { throw new Error('unexpected shape'); } })).toBe('accepted');
    await send(message('after'), 'good');
    expect(texts()).toEqual(['after']);
  });
});
