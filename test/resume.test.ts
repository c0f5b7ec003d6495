// What a restart does with what the last run left in the store: each journal stage resumes
// where it stopped, asks a callback again only when it may not have answered, and sends only
// replies not yet delivered.

import { describe, expect, it } from 'vitest';
import type { Adapter } from '../src/adapter.js';
import { defineBot } from '../src/bot/bot.js';
import type { Journal } from '../src/pipeline/journal.js';
import type { Stage, StageData, StageHooks } from '../src/pipeline/lifecycle.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { silentLogger } from '../src/runtime/logger.js';
import type { Message, OutgoingMessage } from '../src/message.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { tempStorePath } from './helpers.js';

const message: Message = { id: 'm1', platform: 'test', botId: 'chat', channel: { id: 'c1', type: 'direct' }, author: { id: 'u1', isBot: false }, content: [{ type: 'text', text: 'hello' }], text: 'hello', mentionsBot: false, timestamp: 0, raw: {} };
const to = { botId: 'chat', channelId: 'c1', type: 'direct' as const };
const text = (t: string): OutgoingMessage => ({ to, content: [{ type: 'text', text: t }], inResponseTo: 'm1' });

function harness(path = tempStorePath(), withHooks = true) {
  const sent: string[] = [];
  const calls: { stage: Stage; redelivered: boolean }[] = [];
  let handlerRuns = 0;
  const adapter: Adapter = {
    id: 'chat',
    type: 'test',
    start: async () => {},
    stop: async () => {},
    send: async (m, options) => {
      sent.push(`${options?.key} ${m.content.map((s) => (s.type === 'text' ? s.text : s.type)).join('')}`);
      return { ok: true, ids: [`p${sent.length}`], ms: 0 };
    },
  };
  const bot = defineBot((b) =>
    b.on('message', (ctx) => {
      handlerRuns++;
      ctx.reply(`echo: ${ctx.text}`);
    }),
  );
  const observe = (stage: Stage) => async (_s: Stage, data: StageData) => {
    calls.push({ stage, redelivered: data.redelivered === true });
    return { kind: 'continue' as const };
  };
  const hooks: StageHooks = { onMessage: observe('onMessage'), onPreSend: observe('onPreSend'), onResult: observe('onResult'), onSent: observe('onSent') };
  const store = SqliteStore.open({ path });
  const pipeline = new Pipeline({ bot, adapters: new Map([['chat', adapter]]), store, logger: silentLogger(), hooks: withHooks ? hooks : {} });
  return { store, pipeline, sent, calls, handlerRuns: () => handlerRuns, path };
}

/** What a crashed run left: the event at `journal`, and the given outbox items. */
async function leftBehind(path: string, journal: Journal, items: { text: string; state?: 'delivered' }[] = []) {
  const store = SqliteStore.open({ path });
  await store.inbox.admit({ id: 'ev', botId: 'chat', key: 'k1', journal: { stage: 'received', message } }, 60_000);
  await store.inbox.update('ev', journal);
  await store.outbox.add(items.map((item, index) => ({ key: `ev:${index}`, eventId: 'ev', index, message: text(item.text) })));
  for (const [index, item] of items.entries()) if (item.state === 'delivered') await store.outbox.delivered(`ev:${index}`, [`old${index}`]);
  await store.close();
}

async function resumeAndDrain(h: ReturnType<typeof harness>) {
  await h.pipeline.resume(Promise.resolve());
  await h.pipeline.drain();
}

const request = { command: null, args: {}, route: null };
const result = { replies: [text('echo: hello')], data: {} };

describe('resuming after a restart', () => {
  it('from received: every stage runs, the first callback is told it may be a repeat, the reply goes out once', async () => {
    const path = tempStorePath();
    await leftBehind(path, { stage: 'received', message });
    const h = harness(path);
    await resumeAndDrain(h);
    expect(h.calls).toEqual([
      { stage: 'onMessage', redelivered: true },
      { stage: 'onPreSend', redelivered: false },
      { stage: 'onResult', redelivered: false },
      { stage: 'onSent', redelivered: false },
    ]);
    expect(h.handlerRuns()).toBe(1);
    expect(h.sent).toEqual(['ev:0 echo: hello']);
    expect(await h.store.inbox.unfinished()).toEqual([]);
    // The redelivery of the same platform event after the restart is still a duplicate.
    expect(await h.pipeline.dispatch('chat', { key: 'k1', normalize: () => message })).toBe('duplicate');
  });

  it('after onMessage answered: onMessage is not asked again, onPreSend is (maybe a repeat)', async () => {
    const path = tempStorePath();
    await leftBehind(path, { stage: 'onMessage', message: { ...message, text: 'patched', content: [{ type: 'text', text: 'patched' }] }, extras: [[{ type: 'text', text: 'from onMessage' }]] });
    const h = harness(path);
    await resumeAndDrain(h);
    expect(h.calls.map((c) => `${c.stage}${c.redelivered ? '*' : ''}`)).toEqual(['onPreSend*', 'onResult', 'onSent']);
    // The stage's change and its added content survived the restart.
    expect(h.sent).toEqual(['ev:0 echo: patched', 'ev:1 from onMessage']);
  });

  it('after the handler returned: it does not run again; onResult is asked (maybe a repeat)', async () => {
    const path = tempStorePath();
    await leftBehind(path, { stage: 'handled', message, request, result, extras: [] });
    const h = harness(path);
    await resumeAndDrain(h);
    expect(h.handlerRuns()).toBe(0);
    expect(h.calls.map((c) => `${c.stage}${c.redelivered ? '*' : ''}`)).toEqual(['onResult*', 'onSent']);
    expect(h.sent).toEqual(['ev:0 echo: hello']);
  });

  it('while delivering: only the items not yet delivered are sent; nothing runs before them', async () => {
    const path = tempStorePath();
    await leftBehind(path, { stage: 'delivering', message, request, result, outcome: 'answered' }, [{ text: 'one', state: 'delivered' }, { text: 'two' }, { text: 'three' }]);
    const h = harness(path);
    await resumeAndDrain(h);
    expect(h.handlerRuns()).toBe(0);
    expect(h.sent).toEqual(['ev:1 two', 'ev:2 three']);
    expect(h.calls).toEqual([{ stage: 'onSent', redelivered: true }]);
  });

  it('with no callbacks, replies in the outbox are all it takes: the handler does not run again, only what is undelivered is sent', async () => {
    const path = tempStorePath();
    // Without onSent the journal is not moved on when the replies are recorded: it still says `received`.
    await leftBehind(path, { stage: 'received', message }, [{ text: 'echo: hello', state: 'delivered' }, { text: 'and more' }]);
    const h = harness(path, false);
    await resumeAndDrain(h);
    expect(h.handlerRuns()).toBe(0);
    expect(h.sent).toEqual(['ev:1 and more']);
    expect(await h.store.inbox.unfinished()).toEqual([]);
  });

  it('after every delivery, before onSent was told: only onSent runs, told it may be a repeat', async () => {
    const path = tempStorePath();
    await leftBehind(path, { stage: 'delivered', message, request, result, outcome: 'answered' }, [{ text: 'one', state: 'delivered' }]);
    const h = harness(path);
    await resumeAndDrain(h);
    expect(h.sent).toEqual([]);
    expect(h.calls).toEqual([{ stage: 'onSent', redelivered: true }]);
    expect(await h.store.inbox.unfinished()).toEqual([]);
  });

  it("sends a recorded reply whose event is gone, and a dead letter an operator asked to retry", async () => {
    const path = tempStorePath();
    const store = SqliteStore.open({ path });
    await store.outbox.add([
      { key: 'orphan:0', eventId: 'orphan', index: 0, message: text('left pending') },
      { key: 'dead:0', eventId: 'dead', index: 0, message: text('given up') },
    ]);
    await store.outbox.dead('dead:0', [], 'HTTP 500');
    await store.outbox.retry('dead:0');
    await store.close();
    const h = harness(path);
    await resumeAndDrain(h);
    expect(h.sent.sort()).toEqual(['dead:0 given up', 'orphan:0 left pending']);
    expect((await h.store.outbox.get('dead:0'))!.state).toBe('delivered');
  });

  it('a platform event a crash cut off is handled again, and what its handler sent before the crash is not sent twice', async () => {
    const path = tempStorePath();
    const event = { id: 'join-1', platform: 'test', botId: 'chat', type: 'Group.MemberJoined', data: { who: 'Ann' }, timestamp: 0 };
    const store = SqliteStore.open({ path });
    await store.inbox.admit({ id: 'pe', botId: 'chat', key: 'join-1', journal: { stage: 'event', event } }, 60_000);
    await store.outbox.add([{ key: 'pe:0', eventId: 'pe', index: 0, message: text('welcome, Ann') }]);
    await store.outbox.delivered('pe:0', ['old0']);
    await store.close();
    const h = harness(path);
    const seen: string[] = [];
    const bot = defineBot((b) =>
      b.on('event', (ctx) => {
        seen.push(ctx.event.type);
        ctx.send(to, 'welcome, Ann');
        ctx.send(to, 'the rules are pinned');
      }),
    );
    const pipeline = new Pipeline({ bot, adapters: new Map([['chat', { id: 'chat', type: 'test', start: async () => {}, stop: async () => {}, send: async (m, o) => (h.sent.push(`${o?.key} ${m.content.map((s) => (s.type === 'text' ? s.text : '')).join('')}`), { ok: true, ids: ['x'], ms: 0 }) }]]), store: h.store, logger: silentLogger() });
    await pipeline.resume(Promise.resolve());
    await pipeline.drain();
    expect(seen).toEqual(['Group.MemberJoined']);
    expect(h.sent).toEqual(['pe:1 the rules are pinned']);
    expect(await h.store.inbox.unfinished()).toEqual([]);
    expect(await pipeline.emit('chat', event, 'join-1')).toBe('duplicate');
  });

  it('a handler a crash cut off runs again (at least once), and its reply goes out once', async () => {
    const path = tempStorePath();
    // The first run: the handler never returns (the process dies in it).
    const crashed = SqliteStore.open({ path });
    const hanging = new Pipeline({ bot: defineBot((b) => b.on('message', () => new Promise(() => {}))), adapters: new Map(), store: crashed, logger: silentLogger() });
    expect(await hanging.dispatch('chat', { key: 'k9', normalize: () => message })).toBe('accepted');
    await crashed.close();
    const h = harness(path);
    await resumeAndDrain(h);
    expect(h.handlerRuns()).toBe(1);
    expect(h.sent).toHaveLength(1);
  });
});
