import { describe, expect, it, vi } from 'vitest';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { StageData, StageHooks } from '../src/pipeline/lifecycle.js';
import { silentLogger } from '../src/runtime/logger.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { ChannelType, Message, Segment } from '../src/message.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { MemoryStore } from '../src/store/index.js';
import { Context } from '../src/bot/context.js';
import type { Answer } from '../src/bot/prompt.js';
import { Prompts, type Resumption } from '../src/pipeline/prompts.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { startRuntime, waitFor } from './helpers.js';
import { recorder } from './recorder.js';
import { dropPrefix, redisUrl, requireRedis, testPrefix } from './redis.js';

let ids = 0;
function message(text: string, user = 'u1', chat = 'c1', type: ChannelType = 'direct'): Message {
  const id = `m-${++ids}`;
  return { id, platform: 'test', botId: 'chat', channel: { id: chat, type }, author: { id: user, isBot: false }, content: [{ type: 'text', text }], text, mentionsBot: false, timestamp: 0, raw: {} };
}

const choice: Segment[] = [
  { type: 'text', text: 'Continue?' },
  { type: 'buttons', rows: [[{ label: 'Yes', value: 'yes' }, { label: 'No', value: 'no' }], [{ label: 'Docs', url: 'https://example.com' }]] },
];

/** A name form and a confirmation; every other message is echoed and noted in `seen`. */
function formBot(seen: string[]): Bot {
  return defineBot((b) => {
    b.command('name', async (ctx) => {
      ctx.reply('Hi!');
      const answer = await ctx.prompt('Your name?', { timeout: '1m' });
      if (answer.timedOut) return;
      return `Hello, ${answer.text}!`;
    });
    b.command('quick', async (ctx) => {
      const answer = await ctx.prompt('Quick, your name?', { timeout: 50, timeoutReply: 'Too slow.' });
      return answer.timedOut ? `no answer (${answer.reason})` : `Hello, ${answer.text}!`;
    });
    b.command('confirm', async (ctx) => {
      const answer = await ctx.prompt(choice);
      return answer.timedOut ? 'no answer' : `picked ${answer.text} (${answer.button?.label ?? 'typed'})`;
    });
    b.on('message', (ctx) => {
      seen.push(ctx.text);
      return ctx.text;
    });
  });
}

function pipeline(hooks: StageHooks = {}) {
  const seen: string[] = [];
  const rec = recorder();
  const store = new MemoryStore();
  const p = new Pipeline({ bot: formBot(seen), adapters: new Map([['chat', rec.adapter]]), store, logger: silentLogger(), hooks });
  const send = async (...messages: Message[]) => {
    for (const m of messages) await p.dispatch('chat', { normalize: () => m });
    await p.drain();
  };
  return { p, send, seen, store, ...rec };
}

describe('ctx.prompt', () => {
  it('sends the question as the reply to its message, then routes the answer to the handler, whose reply answers the answer', async () => {
    const results: StageData[] = [];
    const { send, texts, sent, seen, store } = pipeline({ onResult: async (_s, data) => (results.push(data), { kind: 'continue' }) });
    const ask = message('/name');
    await send(ask);
    expect(texts()).toEqual(['Hi!', 'Your name?']);
    const reply = message('Ada');
    await send(reply);
    expect(texts()).toEqual(['Hi!', 'Your name?', 'Hello, Ada!']);
    // The answer reached no handler but the one that asked.
    expect(seen).toEqual([]);
    expect(sent[1]).toMatchObject({ replyTo: ask.id, inResponseTo: ask.id });
    expect(sent[2]).toMatchObject({ replyTo: reply.id, inResponseTo: reply.id });
    // Each turn is its message's event: onResult saw both, with the conversation's request.
    expect(results.map((r) => [r.message.text, r.request?.command, r.result?.replies.length])).toEqual([
      ['/name', 'name', 2],
      ['Ada', 'name', 1],
    ]);
    expect(results[0]!.eventId).not.toBe(results[1]!.eventId);
    expect(await store.inbox.unfinished()).toEqual([]);
    // The conversation is over: the next message is an ordinary one.
    await send(message('again'));
    expect(texts().at(-1)).toBe('again');
    expect(seen).toEqual(['again']);
  });

  it('keeps each user\'s prompt in a group to that user, and handles others meanwhile', async () => {
    const { send, texts, seen } = pipeline();
    const group = (text: string, user: string) => message(text, user, 'g1', 'group');
    // All admitted at once: a prompt that held the chat would leave drain() waiting forever.
    await send(group('/name', 'ann'), group('/name', 'bob'), group('hello from cid', 'cid'), group('Bob', 'bob'), group('Ann', 'ann'));
    expect(texts()).toEqual(['Hi!', 'Your name?', 'Hi!', 'Your name?', 'hello from cid', 'Hello, Bob!', 'Hello, Ann!']);
    expect(seen).toEqual(['hello from cid']);
  });

  it('answers a timeout with the timeout reply, then the handler goes on; a late answer is an ordinary message', async () => {
    const { p, send, texts, seen } = pipeline();
    await send(message('/quick'));
    await waitFor(() => texts().length === 3, 2000, 'the timeout turn');
    await p.drain();
    expect(texts()).toEqual(['Quick, your name?', 'Too slow.', 'no answer (timeout)']);
    await send(message('Ada'));
    expect(seen).toEqual(['Ada']);
  });

  it('takes a clicked button (its value) or, where buttons are numbered lines, its number as the answer', async () => {
    const { send, texts, seen } = pipeline();
    await send(message('/confirm'), message('yes'));
    await send(message('/confirm'), message('2'));
    await send(message('/confirm'), message('maybe'));
    expect(texts()).toEqual(['Continue?[buttons]', 'picked yes (Yes)', 'Continue?[buttons]', 'picked no (No)', 'Continue?[buttons]', 'picked maybe (typed)']);
    expect(seen).toEqual([]);
  });

  it('drops a waiting prompt at shutdown without holding the drain; after a restart the answer is an ordinary message', async () => {
    const { p, send, texts, store, adapter } = pipeline();
    // The prompts' timers are the test's: it moves past their timeouts instead of sleeping.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      await send(message('/name'), message('/quick', 'u2'));
      p.close();
      expect(await p.drain(1000)).toBe(0);
      // Dropped, not timed out: the handler does not go on while the process stops.
      expect(vi.getTimerCount()).toBe(0);
      await vi.advanceTimersByTimeAsync(10 * 60_000);
    } finally {
      vi.useRealTimers();
    }
    expect(texts()).toEqual(['Hi!', 'Your name?', 'Quick, your name?']);
    expect(await store.inbox.unfinished()).toEqual([]);
    const seen: string[] = [];
    const next = new Pipeline({ bot: formBot(seen), adapters: new Map([['chat', adapter]]), store, logger: silentLogger() });
    await next.dispatch('chat', { normalize: () => message('Ada') });
    await next.drain();
    expect(seen).toEqual(['Ada']);
    expect(texts()).toEqual(['Hi!', 'Your name?', 'Quick, your name?', 'Ada']);
  });

  it('waits for nothing when onResult refuses the turn that asked: the user never saw the question', async () => {
    const { send, texts, seen } = pipeline({ onResult: async (_s, data) => (data.message.text === '/name' ? { kind: 'reject', reply: [{ type: 'text', text: 'not now' }] } : { kind: 'continue' }) });
    await send(message('/name'), message('Ada'));
    expect(texts()).toEqual(['not now', 'Ada']);
    expect(seen).toEqual(['Ada']);
  });

  it('rejects a timeout it cannot read, naming the option', async () => {
    const errors: unknown[] = [];
    const bot = defineBot((b) => b.on('message', (ctx) => ctx.prompt('?', { timeout: 'soon' }).catch((error: unknown) => void errors.push(error))));
    const rec = recorder();
    const p = new Pipeline({ bot, adapters: new Map([['chat', rec.adapter]]), store: new MemoryStore(), logger: silentLogger() });
    await p.dispatch('chat', { normalize: () => message('hi') });
    await p.drain();
    expect(String(errors[0])).toContain('ctx.prompt: timeout "soon" is not a wait');
    expect(rec.texts()).toEqual([]);
  });
});

describe('the wait registry', () => {
  const request = { command: null, args: {}, route: null };
  const context = (eventId: string, m: Message) => new Context(eventId, m, request, { replies: [], data: {} }, silentLogger(), () => Promise.reject(new Error('no downloads')), new MemoryStore());

  it('keeps one wait per user per chat: a newer prompt resumes the older as replaced', async () => {
    const ended: Resumption[] = [];
    const prompts = new Prompts((resumption) => ended.push(resumption));
    const answers: Answer[] = [];
    const first = context('e1', message('/a'));
    await prompts.run(first, async () => void answers.push(await first.prompt('first?')));
    const second = context('e2', message('/b'));
    await prompts.run(second, async () => void answers.push(await second.prompt('second?')));
    expect(ended.map((r) => [r.waiting.askedIn, r.by])).toEqual([['e1', 'replaced']]);
    await prompts.resume(ended[0]!, { eventId: 'e3', message: message('-'), result: { replies: [], data: {} }, log: silentLogger() });
    expect(answers).toEqual([{ timedOut: true, reason: 'replaced' }]);
    expect(prompts.take(message('from another user', 'u2'))).toBeUndefined();
    expect(prompts.take(message('mine'))?.askedIn).toBe('e2');
    expect(prompts.size).toBe(0);
  });

  it('holds at most maxWaiting: past it the oldest wait ends as timed out', async () => {
    const ended: Resumption[] = [];
    const prompts = new Prompts((resumption) => ended.push(resumption), undefined, undefined, { maxWaiting: 50 });
    for (let i = 0; i < 200; i++) {
      const ctx = context(`e${i}`, message('/a', `u${i}`));
      await prompts.run(ctx, async () => void (await ctx.prompt('?')));
    }
    expect(prompts.size).toBe(50);
    expect(ended).toHaveLength(150);
    expect(ended.every((r) => r.by === 'timeout')).toBe(true);
    expect(ended.map((r) => r.waiting.askedIn).slice(0, 3)).toEqual(['e0', 'e1', 'e2']);
    // The newest still wait for their answer.
    expect(prompts.take(message('mine', 'u199'))?.askedIn).toBe('e199');
    prompts.close();
  });

  it('ends the turn of a handler that returns no promise at once, with no promise: it throws as it threw, a prompt it did not await is dropped, one after it returned is refused', async () => {
    const prompts = new Prompts(() => {});
    const plain = context('e1', message('/a'));
    expect(prompts.run(plain, () => plain.reply('done'))).toBeUndefined();
    expect(() => prompts.run(context('e2', message('/b')), () => {
      throw new Error('kaboom');
    })).toThrow('kaboom');
    const asking = context('e3', message('/c'));
    const turn = prompts.run(asking, () => void asking.prompt('not awaited'));
    expect(turn).toBeInstanceOf(Promise);
    await turn;
    expect(prompts.size).toBe(0);
    expect(asking.result.replies.map((r) => r.content)).toEqual([[{ type: 'text', text: 'not awaited' }]]);
    expect(String(await asking.prompt('too late').catch((error: unknown) => error))).toContain('ctx.prompt was called after the handler returned');
  });

  it('refuses a second prompt while one waits, and drops a prompt its handler did not await', async () => {
    const prompts = new Prompts(() => {});
    const ctx = context('e1', message('/a'));
    let refused: unknown;
    let handler!: Promise<void>;
    // The turn ends at the first prompt; the handler goes on and returns without awaiting it.
    await prompts.run(ctx, () => (handler = (async () => {
      void ctx.prompt('never awaited');
      refused = await ctx.prompt('again?').catch((error: unknown) => error);
    })()));
    expect(prompts.size).toBe(1);
    await handler;
    expect(String(refused)).toContain('already waits for an answer');
    expect(prompts.size).toBe(0);
  });
});

describe('ctx.prompt end to end', () => {
  it('asks in a group, takes the asker\'s typed answer and a pressed button, and answers another user meanwhile', async () => {
    const fake = new FakeTelegram();
    await fake.start();
    let runtime: Runtime | undefined;
    try {
      const seen: string[] = [];
      ({ runtime } = await startRuntime(`platforms:\n  - { id: tg, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}", mode: polling, pollTimeout: 1, limits: false }`, { bot: formBot(seen) }));
      const texts = () => fake.sent().map((c) => c.params.text ?? `[${c.method}]`);
      const chat = { id: -100, type: 'supergroup', title: 'Team' };
      const alice = { id: 42, is_bot: false, first_name: 'Alice' };
      const bob = { id: 43, is_bot: false, first_name: 'Bob' };
      fake.pushMessage({ text: '/name', chat, from: alice, entities: [{ type: 'bot_command', offset: 0, length: 5 }] });
      await waitFor(() => texts().length === 2, 4000, 'the question');
      fake.pushMessage({ text: 'not my name', chat, from: bob });
      await waitFor(() => texts().length === 3, 4000, 'the other user\'s message answered');
      fake.pushMessage({ text: 'Alice', chat, from: alice });
      await waitFor(() => texts().length === 4, 4000, 'the final reply');
      expect(texts()).toEqual(['Hi!', 'Your name?', 'not my name', 'Hello, Alice!']);
      expect(seen).toEqual(['not my name']);

      fake.pushMessage({ text: '/confirm', chat, from: bob, entities: [{ type: 'bot_command', offset: 0, length: 8 }] });
      await waitFor(() => texts().length === 5, 4000, 'the buttons');
      expect(JSON.parse(fake.sent()[4]!.params.reply_markup!).inline_keyboard[0]).toEqual([{ text: 'Yes', callback_data: 'yes' }, { text: 'No', callback_data: 'no' }]);
      fake.pushUpdate({ callback_query: { id: 'cb1', from: bob, chat_instance: 'x', data: 'no', message: { message_id: 1, date: 1, chat } } } as never);
      await waitFor(() => texts().length === 6, 4000, 'the reply to the click');
      expect(texts()[5]).toBe('picked no (No)');
    } finally {
      await runtime?.stop();
      await fake.stop();
    }
  });

  it('runs the example bot\'s /name in a sandbox group: the answer needs no mention, and another user is answered meanwhile', async () => {
    const { runtime, url } = await startRuntime('platforms: [{ id: sandbox, type: sandbox }]');
    try {
      const api = `${url}/sandbox/sandbox/api`;
      const post = (user: string, text: string) => fetch(`${api}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { id: user, name: user }, chat: { id: 'group:team', type: 'group' }, text }) });
      const replies = (count: number) =>
        waitFor(async () => {
          const { messages } = (await (await fetch(`${api}/chats/group%3Ateam/messages`)).json()) as { messages: { from: { isBot: boolean }; segments: Segment[] }[] };
          const texts = messages.filter((m) => m.from.isBot).map((m) => m.segments.map((s) => (s.type === 'text' ? s.text : '')).join(''));
          return texts.length >= count && texts;
        }, 3000, `${count} bot replies`);
      await post('alice', '/name');
      await replies(1);
      await post('bob', '/ping');
      await replies(2);
      await post('alice', 'Alice');
      expect(await replies(3)).toEqual(['What is your name?', 'pong', 'Nice to meet you, Alice!']);
    } finally {
      await runtime.stop();
    }
  });
});

describe('ctx.prompt on the HTTP endpoint', () => {
  it('answers the asking request with the question and the answering request with what follows', async () => {
    const { runtime, url } = await startRuntime('platforms:\n  - { id: api, type: http, apiKey: "test-key-0123456789" }', { bot: formBot([]) });
    try {
      const call = async (msg_id: string, query: string) => {
        const res = await fetch(`${url}/api/plug/v1/chat`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer test-key-0123456789' }, body: JSON.stringify({ type: 'text', msg_id, query, sender_id: 'u1' }) });
        return ((await res.json()) as { data: { content: string }[] }).data.map((d) => d.content);
      };
      expect(await call('q1', '/name')).toEqual(['Hi!', 'Your name?']);
      expect(await call('q2', 'Ada')).toEqual(['Hello, Ada!']);
    } finally {
      await runtime.stop();
    }
  });
});

describe('ctx.prompt with a Redis store', () => {
  it('works on one instance whose messages go through the shared work queues', async () => {
    await requireRedis();
    const prefix = testPrefix('prompt');
    const fake = new FakeTelegram();
    await fake.start();
    let runtime: Runtime | undefined;
    try {
      const seen: string[] = [];
      const started = await startRuntime(`store: { type: redis, url: "${redisUrl}", prefix: "${prefix}" }\nplatforms:\n  - { id: tg, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}", mode: polling, pollTimeout: 1, limits: false }`, { bot: formBot(seen) });
      runtime = started.runtime;
      const texts = () => fake.sent().map((c) => c.params.text ?? `[${c.method}]`);
      fake.pushMessage({ text: '/name', entities: [{ type: 'bot_command', offset: 0, length: 5 }] });
      await waitFor(() => texts().length === 2, 5000, 'the question');
      fake.pushMessage({ text: 'Ada' });
      await waitFor(() => texts().length === 3, 5000, 'the final reply');
      expect(texts()).toEqual(['Hi!', 'Your name?', 'Hello, Ada!']);
      expect(seen).toEqual([]);
    } finally {
      await runtime?.stop();
      await fake.stop();
      await dropPrefix(prefix);
    }
  });
});
