// Replayable events (a gateway resumed from the last sequence acknowledged): taken without being
// recorded first, recorded only when they are about to leave a trace or run long, acknowledged
// once handled or recorded. Against the SQLite store, read back through a second look at the file.

import { afterEach, describe, expect, it } from 'vitest';
import type { Adapter, Admission } from '../src/adapter.js';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { StageHooks } from '../src/pipeline/lifecycle.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { ReplayableEvents } from '../src/pipeline/replayable.js';
import { silentLogger } from '../src/runtime/logger.js';
import { Metrics } from '../src/runtime/metrics.js';
import type { Message } from '../src/message.js';
import type { OutboxRecord, StoredEvent } from '../src/store/index.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { tempStorePath, waitFor } from './helpers.js';
import { recorder } from './recorder.js';

function message(text: string, id: string, channel = 'c1'): Message {
  return { id, platform: 'test', botId: 'chat', channel: { id: channel, type: 'direct' }, author: { id: 'u1', isBot: false }, content: [{ type: 'text', text }], text, mentionsBot: false, timestamp: 0, raw: {} };
}

/** A bot that waits for `release()` on every message, then replies only to text starting with "reply". */
const handledTexts: string[] = [];

function gatedBot(): { bot: Bot; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  handledTexts.length = 0;
  const bot = defineBot((b) =>
    b.on('message', async (ctx) => {
      handledTexts.push(ctx.text);
      await gate;
      if (ctx.text.startsWith('reply')) ctx.reply(ctx.text);
    }),
  );
  return { bot, release };
}

/** A bot whose handler waits for `release()` on text starting with "slow" only. */
function slowBot(): { bot: Bot; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const bot = defineBot((b) =>
    b.on('message', async (ctx) => {
      if (ctx.text.startsWith('slow')) await gate;
    }),
  );
  return { bot, release };
}

const stores: SqliteStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

function setup(options: { bot: Bot; graceMs?: number; hooks?: StageHooks; send?: Adapter['send']; metrics?: Metrics }) {
  const store = SqliteStore.open({ path: tempStorePath() });
  stores.push(store);
  const rec = recorder();
  const adapter: Adapter = options.send ? { ...rec.adapter, send: options.send } : rec.adapter;
  const pipeline = new Pipeline({ bot: options.bot, adapters: new Map([['chat', adapter]]), store, logger: silentLogger(), metrics: options.metrics, hooks: options.hooks, replayGraceMs: options.graceMs ?? 60_000 });
  /** Dispatches a replayable event; the admission is what the gateway session waits for before acknowledging it. */
  const dispatch = (text: string, key: string, replayed = false, channel = 'c1') => {
    let settled: Admission | undefined;
    const admission = pipeline.dispatch('chat', { key, normalize: () => message(text, key, channel), replayable: { replayed } }).then((a) => (settled = a));
    return { admission, settled: () => settled };
  };
  return { store, pipeline, dispatch, texts: rec.texts };
}

describe('replayable events', () => {
  it('are handled without an inbox row and, when nothing older is still running, acknowledged once done with no write of their own: the cursor is their record', async () => {
    const { bot, release } = gatedBot();
    const { store, pipeline, dispatch } = setup({ bot });
    const event = dispatch('hello', 'k1');
    await waitFor(() => pipeline.queuedChats === 1, 3000, 'the event to be handled');
    expect(await store.inbox.unfinished()).toEqual([]);
    expect(event.settled()).toBeUndefined();
    release();
    expect(await event.admission).toBe('accepted');
    expect(await store.inbox.admittedAs('chat', 'k1')).toBeUndefined();
    expect(await store.inbox.unfinished()).toEqual([]);
  });

  it('that end while an older one still runs are acknowledged only once their dedup key is written, as the cursor cannot pass them yet', async () => {
    const { bot, release } = slowBot();
    const { store, pipeline, dispatch } = setup({ bot });
    const older = dispatch('slow one', 'k1');
    await waitFor(() => pipeline.queuedChats === 1, 3000, 'the older event to be running');
    const set = store.set.bind(store);
    let writing: (() => void) | undefined;
    store.set = (key, value, ttlMs) => new Promise<void>((resolve) => (writing = () => resolve(set(key, value, ttlMs))));
    const newer = dispatch('quick one', 'k2', false, 'c2');
    await waitFor(() => writing !== undefined, 3000, 'the newer event to end');
    expect(newer.settled()).toBeUndefined();
    writing!();
    expect(await newer.admission).toBe('accepted');
    expect(await store.inbox.admittedAs('chat', 'k2')).toEqual(expect.any(String));
    // The older one then ends with nothing older left: no key of its own.
    store.set = set;
    release();
    expect(await older.admission).toBe('accepted');
    expect(await store.inbox.admittedAs('chat', 'k1')).toBeUndefined();
  });

  it('drop a replay of an event handled before (finished out of order, so its dedup key was written), and handle a replay of one never finished, telling its first callback it may be a repeat', async () => {
    const { bot, release } = slowBot();
    const asked: { text: string; redelivered?: boolean }[] = [];
    const hooks: StageHooks = {
      onMessage: async (_stage, data) => {
        asked.push({ text: data.message.text, redelivered: data.redelivered });
        return { kind: 'continue' };
      },
    };
    const { pipeline, dispatch } = setup({ bot, hooks });
    const older = dispatch('slow, still running', 'k0');
    expect(await dispatch('first', 'k1', false, 'c2').admission).toBe('accepted');
    expect(await dispatch('first, replayed', 'k1', true, 'c2').admission).toBe('duplicate');
    expect(await dispatch('cut off by a crash, replayed', 'k2', true, 'c2').admission).toBe('accepted');
    release();
    expect(await older.admission).toBe('accepted');
    await pipeline.drain();
    expect(asked).toEqual([
      { text: 'slow, still running', redelivered: undefined },
      { text: 'first', redelivered: undefined },
      { text: 'cut off by a crash, replayed', redelivered: true },
    ]);
  });

  it("handle a chat's events in the order the platform sent them: a live event right after a replay waits for the replay's lookup", async () => {
    const { bot, release } = gatedBot();
    const { pipeline, dispatch, texts } = setup({ bot });
    // A resumed session: its replay, then the first live events, handed over in one go.
    const sent = [dispatch('reply 1, replayed', 'k1', true), dispatch('reply 2, replayed', 'k2', true), dispatch('reply 3, live', 'k3'), dispatch('reply 4, live', 'k4'), dispatch('reply 5, replayed late', 'k5', true), dispatch('reply 6, live', 'k6')];
    release();
    for (const event of sent) expect(await event.admission).toBe('accepted');
    await pipeline.drain();
    expect(handledTexts).toEqual(['reply 1, replayed', 'reply 2, replayed', 'reply 3, live', 'reply 4, live', 'reply 5, replayed late', 'reply 6, live']);
    expect(texts()).toEqual(handledTexts);
  });

  it('give a replay the event id its first run had, so a handler or a callback server can recognise the repeat', async () => {
    const seen: string[] = [];
    const hooks: StageHooks = {
      onMessage: async (_stage, data) => {
        seen.push(data.eventId);
        return { kind: 'continue' };
      },
    };
    // The first run is cut off (never released): the process that ran it is gone.
    const first = setup({ bot: gatedBot().bot, hooks });
    void first.dispatch('cut off', 'k1');
    await waitFor(() => seen.length === 1, 3000, 'the first run');
    const next = gatedBot();
    next.release();
    const second = setup({ bot: next.bot, hooks });
    expect(await second.dispatch('cut off', 'k1', true).admission).toBe('accepted');
    expect(await second.dispatch('another', 'k2').admission).toBe('accepted');
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).not.toBe(seen[0]);
    expect(seen[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('take a replay of an event still running here (a session started again in-process) as a duplicate, acknowledged only with the original', async () => {
    const { bot, release } = gatedBot();
    const { pipeline, dispatch } = setup({ bot });
    const original = dispatch('still running', 'k1');
    await waitFor(() => pipeline.queuedChats === 1, 3000, 'the event to be handled');
    const replay = dispatch('still running, replayed', 'k1', true);
    await waitFor(() => pipeline.queuedChats === 1 && replay.settled() === undefined && original.settled() === undefined, 3000, 'both to wait');
    release();
    expect(await replay.admission).toBe('duplicate');
    expect(await original.admission).toBe('accepted');
    await pipeline.drain();
    expect(handledTexts).toEqual(['still running']);
  });

  it('are recorded before their replies: while a reply is being sent, the event is in the inbox and its reply in the outbox', async () => {
    const { bot, release } = gatedBot();
    release();
    let seen: { events: StoredEvent[]; replies: OutboxRecord[] } | undefined;
    const { store, pipeline, dispatch } = setup({
      bot,
      send: async () => {
        const events = await store.inbox.unfinished();
        seen = { events, replies: await store.outbox.ofEvent(events[0]?.id ?? '') };
        return { ok: true, ids: ['m1'], ms: 1 };
      },
    });
    // Acknowledged once recorded, before the reply goes out.
    expect(await dispatch('reply to me', 'k1').admission).toBe('accepted');
    await pipeline.drain();
    expect(seen?.events.map((e) => e.key)).toEqual(['k1']);
    expect(seen?.replies.map((r) => r.state)).toEqual(['pending']);
    // Finished as an admitted event: the row and its delivered reply are gone, the dedup key stays.
    await waitFor(async () => (await store.inbox.unfinished()).length === 0, 3000, 'the event to be finished');
    expect(await store.outbox.list('delivered')).toEqual([]);
    expect(await store.inbox.admittedAs('chat', 'k1')).toEqual(expect.any(String));
  });

  it('are recorded, and acknowledged, once they have run longer than the grace; then finished as admitted events', async () => {
    const { bot, release } = gatedBot();
    const { store, pipeline, dispatch, texts } = setup({ bot, graceMs: 50 });
    const event = dispatch('reply, slowly', 'k1');
    expect(await event.admission).toBe('accepted');
    expect((await store.inbox.unfinished()).map((e) => e.key)).toEqual(['k1']);
    release();
    await pipeline.drain();
    await waitFor(async () => (await store.inbox.unfinished()).length === 0, 3000, 'the event to be finished');
    expect(texts()).toEqual(['reply, slowly']);
    expect(await store.inbox.admittedAs('chat', 'k1')).toEqual(expect.any(String));
  });

  it('tell the platform to send the event again when the store cannot record one that has to be, and still handle it', async () => {
    const { bot, release } = gatedBot();
    const metrics = new Metrics();
    const { store, pipeline, dispatch, texts } = setup({ bot, graceMs: 50, metrics });
    const admit = store.inbox.admit.bind(store.inbox);
    store.inbox.admit = () => Promise.reject(new Error('disk full'));
    const event = dispatch('reply, unrecorded', 'k1');
    expect(await event.admission).toBe('closed');
    expect(await metrics.value('switchboard_events_unrecorded_total', { bot: 'chat' })).toBe(1);
    // The session resumed meanwhile replays it while it still runs: refused again, not handled twice.
    expect(await dispatch('reply, unrecorded', 'k1', true).admission).toBe('closed');
    store.inbox.admit = admit;
    release();
    await pipeline.drain();
    expect(texts()).toEqual(['reply, unrecorded']);
    expect(handledTexts).toEqual(['reply, unrecorded']);
    // Done, it left its dedup key: the next replay is a duplicate.
    expect(await dispatch('reply, unrecorded', 'k1', true).admission).toBe('duplicate');
  });

  it('refuse a replay, unhandled, when the store cannot tell whether it was handled before', async () => {
    const { bot, release } = gatedBot();
    release();
    const metrics = new Metrics();
    const { store, pipeline, dispatch, texts } = setup({ bot, metrics });
    const admittedAs = store.inbox.admittedAs.bind(store.inbox);
    store.inbox.admittedAs = () => Promise.reject(new Error('disk I/O error'));
    expect(await dispatch('reply, replayed', 'k1', true).admission).toBe('closed');
    expect(await metrics.value('switchboard_events_unrecorded_total', { bot: 'chat' })).toBe(1);
    store.inbox.admittedAs = admittedAs;
    // Sent again once the store answers: handled once.
    expect(await dispatch('reply, replayed', 'k1', true).admission).toBe('accepted');
    await pipeline.drain();
    expect(texts()).toEqual(['reply, replayed']);
    expect(handledTexts).toEqual(['reply, replayed']);
  });
});

describe('replayable events, many at once', () => {
  // ReplayableEvents moves its maps onto fresh ones every 4096 events taken (a V8 matter: see renewEvery).
  it('keep every event taken across the maps being renewed: a replay still finds its original, and the slow ones are recorded oldest first', async () => {
    const store = SqliteStore.open({ path: tempStorePath() });
    stores.push(store);
    const events = new ReplayableEvents(store, silentLogger(), 60_000, () => {}, 100);
    const count = 4100;
    const key = (i: number) => `k${i}`;
    const admissions = Array.from({ length: count }, (_, i) => events.admit(`id-${i}`, 'chat', key(i), { stage: 'received', message: message(`m${i}`, key(i)) }, false, () => {}));
    // The first and the last, taken on either side of the renewal, are both still known as running here.
    const replayOfFirst = events.admit('id-0', 'chat', key(0), { stage: 'received', message: message('m0', key(0)) }, true, () => expect.unreachable('a replay of a running event is not run'));
    await events.finish('id-0');
    await events.finish(`id-${count - 1}`);
    expect(await admissions[0]).toBe('handling');
    expect(await replayOfFirst).toBe('duplicate');
    expect(await admissions[count - 1]).toBe('handling');
    // The rest outlive the grace: recorded, in the order they were taken.
    await waitFor(async () => (await store.inbox.unfinished()).length === count - 2, 10_000, 'the slow events to be recorded');
    expect((await store.inbox.unfinished()).map((e) => e.key)).toEqual(Array.from({ length: count - 2 }, (_, i) => key(i + 1)));
    expect(await Promise.all(admissions.slice(1, -1))).toEqual(Array(count - 2).fill('handling'));
  }, 30_000);
});
