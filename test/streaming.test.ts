// The core's streaming policy (src/delivery/stream.ts, src/pipeline/streams.ts) against a platform
// that records every call: pacing, coalescing, splitting, failures, and onResult's two modes.
// Each platform's own streaming is tested against its fake in that platform's test file.

import { describe, expect, it } from 'vitest';
import type { Adapter, LiveMessage, StreamStep } from '../src/adapter.js';
import { defineBot } from '../src/bot/bot.js';
import type { Context } from '../src/bot/context.js';
import { Pacer, type Pacing, type SendLimits } from '../src/delivery/pacer.js';
import type { StreamWriter } from '../src/bot/stream.js';
import { rateLimited, fatal } from '../src/delivery/retry.js';
import type { StageData, StageHooks } from '../src/pipeline/lifecycle.js';
import type { DeliveryTrace, Trace } from '../src/pipeline/trace.js';
import { silentLogger } from '../src/runtime/logger.js';
import type { Message, OutgoingMessage, Segment } from '../src/message.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { MemoryStore } from '../src/store/index.js';
import { captureLogs, waitFor } from './helpers.js';

type Call = { kind: 'update'; id: number; text: string; at: number } | { kind: 'finish'; id: number; content: Segment[]; at: number } | { kind: 'send'; content: Segment[]; replyTo?: string };

function message(text: string, id = '1'): Message {
  return { id, platform: 'test', botId: 'chat', channel: { id: 'c1', type: 'group' }, author: { id: 'u1', isBot: false }, content: [{ type: 'text', text }], text, mentionsBot: false, timestamp: 0, raw: {} };
}

const textOf = (content: readonly Segment[]) => content.map((s) => (s.type === 'text' ? s.text : `[${s.type}]`)).join('');

/** A platform whose messages can be edited, keeping every call; `refuse(call n)` makes that update fail. */
function livePlatform(options: { maxLength?: number; limits?: SendLimits; refuse?: (n: number) => StreamStep | undefined; streams?: boolean; mediaFails?: boolean } = {}) {
  const calls: Call[] = [];
  /** When a finish's further messages (its images) went, each after waiting for its slot. */
  const further: number[] = [];
  let next = 0;
  let updates = 0;
  const adapter: Adapter = {
    id: 'chat',
    type: 'test',
    limits: options.limits,
    start: async () => {},
    stop: async () => {},
    send: async (m: OutgoingMessage) => {
      calls.push({ kind: 'send', content: m.content, replyTo: m.replyTo });
      return { ok: true, ids: [`s${calls.length}`], ms: 1 };
    },
    streaming:
      options.streams === false
        ? undefined
        : {
            maxLength: options.maxLength ?? 4096,
            open: (_message, _signal, pace): LiveMessage => {
              const id = ++next;
              let shown = false;
              return {
                get id() {
                  return shown ? `live${id}` : undefined;
                },
                update: async (text) => {
                  const refused = options.refuse?.(++updates);
                  if (refused) return refused;
                  calls.push({ kind: 'update', id, text, at: performance.now() });
                  shown = true;
                  return { ok: true };
                },
                finish: async (content) => {
                  calls.push({ kind: 'finish', id, content, at: performance.now() });
                  // The last edit went out; the image after it did not.
                  if (options.mediaFails && content.some((s) => s.type === 'image')) return { ok: false, ids: [`live${id}`], error: 'upload failed', failure: fatal, ms: 1 };
                  for (const _ of content.filter((c) => c.type === 'image')) if (await pace()) further.push(performance.now());
                  return { ok: true, ids: [`live${id}`], ms: 1 };
                },
              };
            },
          },
  };
  return { adapter, calls, further, updates: () => calls.filter((c) => c.kind === 'update') as Extract<Call, { kind: 'update' }>[], finishes: () => calls.filter((c) => c.kind === 'finish') as Extract<Call, { kind: 'finish' }>[] };
}

function run(handler: (ctx: Context) => unknown, platform = livePlatform(), hooks: StageHooks = {}, streams = { idleTimeoutMs: 5000, notice: '(cut short)' }, trace?: Trace) {
  const bot = defineBot((b) => b.on('message', handler as never));
  const store = new MemoryStore();
  const p = new Pipeline({ bot, adapters: new Map([['chat', platform.adapter]]), store, logger: silentLogger(), hooks, streams, ...(trace ? { trace } : {}) });
  const send = async (m: Message) => {
    await p.dispatch('chat', { normalize: () => m });
    await p.drain();
  };
  return { p, send, store, ...platform };
}

/** A stream the test drives: each `step()` lets one more chunk through. */
function gated(chunks: readonly string[]) {
  let allowed = 0;
  let waiter: (() => void) | undefined;
  const open = () => (allowed > 0 ? (allowed--, Promise.resolve()) : new Promise<void>((resolve) => (waiter = resolve)));
  return {
    stream: (async function* () {
      for (const chunk of chunks) {
        await open();
        yield chunk;
      }
    })(),
    step: () => {
      const w = waiter;
      waiter = undefined;
      if (w) w();
      else allowed++;
    },
  };
}

describe('streamed replies', () => {
  it('coalesces a burst into few updates and finishes with the exact text, quoting the message', async () => {
    const words = Array.from({ length: 300 }, (_, i) => `w${i} `);
    const { send, calls, updates, finishes } = run((ctx) => {
      ctx.reply((async function* () { yield* words; })());
    }, livePlatform({ limits: { chat: { count: 1, perMs: 100 } } }));
    await send(message('hi'));
    expect(updates().length).toBeLessThanOrEqual(2);
    expect(finishes()).toHaveLength(1);
    expect(textOf(finishes()[0]!.content)).toBe(words.join(''));
    expect(calls.filter((c) => c.kind === 'send')).toHaveLength(0);
  });

  it('keeps to the chat rate: no two updates closer than the platform allows, and text only grows', async () => {
    const words = Array.from({ length: 40 }, (_, i) => `${i} `);
    const platform = livePlatform({ limits: { chat: { count: 1, perMs: 100 } } });
    const writer = { done: false };
    const { send, updates, finishes } = run(async (ctx) => {
      const stream = ctx.stream();
      void (async () => {
        for (const w of words) {
          stream.write(w);
          await new Promise((r) => setTimeout(r, 10));
        }
        stream.end();
        writer.done = true;
      })();
    }, platform);
    await send(message('hi'));
    expect(writer.done).toBe(true);
    const seen = updates();
    // ~400 ms of stream at 10 calls a second: a handful of calls (the finish included), not 40.
    expect(seen.length + 1).toBeLessThanOrEqual(7);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    const times = [...seen.map((u) => u.at), finishes()[0]!.at];
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(95);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.text.startsWith(seen[i - 1]!.text)).toBe(true);
    expect(textOf(finishes()[0]!.content)).toBe(words.join(''));
  });

  it('goes on in a new message past the platform length, each part within it', async () => {
    const text = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    const { send, finishes } = run((ctx) => ctx.reply((async function* () { for (const w of text.split(/(?= )/)) yield w; })()), livePlatform({ maxLength: 100 }));
    await send(message('hi'));
    const parts = finishes().map((f) => textOf(f.content));
    expect(parts.length).toBeGreaterThanOrEqual(5);
    for (const part of parts) expect(part.length).toBeLessThanOrEqual(100);
    expect(parts.join(' ')).toBe(text);
  });

  it('keeps what was shown of a stream that throws and appends the notice, logging the error with the event', async () => {
    const logs = captureLogs();
    const g = gated(['Once upon ', 'a time']);
    const platform = livePlatform();
    const bot = defineBot((b) =>
      b.on('message', (ctx) => {
        ctx.reply((async function* () {
          yield* g.stream;
          throw new Error('model overloaded');
        })());
      }),
    );
    const p = new Pipeline({ bot, adapters: new Map([['chat', platform.adapter]]), store: new MemoryStore(), logger: logs.logger, streams: { idleTimeoutMs: 5000, notice: '(cut short)' } });
    await p.dispatch('chat', { normalize: () => message('hi') });
    g.step();
    await waitFor(() => platform.updates().length === 1);
    g.step();
    await p.drain();
    expect(textOf(platform.finishes()[0]!.content)).toBe('Once upon a time\n\n(cut short)');
    const line = logs.lines.find((l) => l.msg.includes('ended early'));
    expect(line?.err).toContain('model overloaded');
    expect(line?.event).toBeTruthy();
  });

  it('ends a stalled stream after the idle timeout with the notice', async () => {
    const { send, finishes, updates } = run(
      (ctx) => {
        const s = ctx.stream();
        s.write('thinking');
      },
      livePlatform(),
      {},
      { idleTimeoutMs: 150, notice: '(no answer)' },
    );
    await send(message('hi'));
    expect(updates()[0]?.text).toBe('thinking');
    expect(textOf(finishes()[0]!.content)).toBe('thinking\n\n(no answer)');
  });

  it('sends the rest as a new message when an update fails, never a silent half answer', async () => {
    const g = gated(['first part. ', 'second part.']);
    const platform = livePlatform({ refuse: (n) => (n === 2 ? { ok: false, error: 'message to edit not found', failure: fatal } : undefined) });
    const { p } = run((ctx) => ctx.reply(g.stream), platform);
    await p.dispatch('chat', { normalize: () => message('hi') });
    g.step();
    await waitFor(() => platform.updates().length === 1);
    g.step();
    await p.drain();
    expect(platform.updates().map((u) => u.text)).toEqual(['first part. ']);
    expect(platform.finishes()).toHaveLength(0);
    const sends = platform.calls.filter((c) => c.kind === 'send') as Extract<Call, { kind: 'send' }>[];
    expect(sends.map((s) => textOf(s.content))).toEqual(['second part.']);
    expect(sends[0]!.replyTo).toBeUndefined();
  });

  it('a last edit that went out before its image failed: only the image is sent again, not the text', async () => {
    const g = gated(['Here is ', 'the chart.']);
    const platform = livePlatform({ mediaFails: true });
    const { p } = run((ctx) => ctx.reply((async function* () { yield* g.stream; yield { type: 'image', url: 'http://127.0.0.1/chart.png' }; })()), platform);
    await p.dispatch('chat', { normalize: () => message('hi') });
    g.step();
    await waitFor(() => platform.updates().length === 1);
    g.step();
    await p.drain();
    expect(textOf(platform.finishes()[0]!.content)).toBe('Here is the chart.[image]');
    const sends = platform.calls.filter((c) => c.kind === 'send') as Extract<Call, { kind: 'send' }>[];
    expect(sends.map((s) => textOf(s.content))).toEqual(['[image]']);
  });

  it('waits out a rate-limited update and shows a later text', async () => {
    const g = gated(['a', 'b', 'c']);
    const platform = livePlatform({ refuse: (n) => (n === 2 ? { ok: false, error: 'Too Many Requests', failure: rateLimited(120) } : undefined) });
    const { p } = run((ctx) => ctx.reply(g.stream), platform);
    await p.dispatch('chat', { normalize: () => message('hi') });
    g.step();
    await waitFor(() => platform.updates().length === 1);
    g.step();
    g.step();
    await p.drain();
    expect(textOf(platform.finishes()[0]!.content)).toBe('abc');
    expect(platform.calls.filter((c) => c.kind === 'send')).toHaveLength(0);
  });

  it('collects the stream for onResult, which sees and can rewrite the whole answer; nothing is shown live', async () => {
    const seen: string[] = [];
    const hooks: StageHooks = {
      resultStreams: () => 'collect',
      onResult: async (_s, data: StageData) => {
        seen.push(textOf(data.result!.replies[0]!.content));
        return { kind: 'continue', data: { ...data.result!, replies: data.result!.replies.map((r) => ({ ...r, content: [{ type: 'text' as const, text: 'rewritten' }] })) } };
      },
    };
    const { send, calls } = run((ctx) => ctx.reply((async function* () { yield 'a '; yield 'b'; })()), livePlatform(), hooks);
    await send(message('hi'));
    expect(seen).toEqual(['a b']);
    expect(calls.map((c) => c.kind)).toEqual(['send']);
    expect(textOf((calls[0] as Extract<Call, { kind: 'send' }>).content)).toBe('rewritten');
  });

  it('observe: the stream goes out live, onResult sees the final text, its change is ignored and its extra sent after; onSent counts the edits', async () => {
    const g = gated(['one ', 'two']);
    const seen: string[] = [];
    const sent: StageData[] = [];
    const hooks: StageHooks = {
      resultStreams: () => 'observe',
      onResult: async (_s, data) => {
        seen.push(textOf(data.result!.replies[1]!.content));
        return { kind: 'continue', data: { ...data.result!, replies: [] }, extra: [[{ type: 'text', text: 'sources: none' }]] };
      },
      onSent: async (_s, data) => (sent.push(data), { kind: 'continue' }),
    };
    // Paced, so the end (right after the second chunk) is seen before a second update could go.
    const platform = livePlatform({ limits: { chat: { count: 1, perMs: 100 } } });
    const { p } = run((ctx) => {
      ctx.reply('Let me think.');
      ctx.reply(g.stream);
    }, platform, hooks);
    await p.dispatch('chat', { normalize: () => message('hi') });
    await waitFor(() => platform.calls.length === 1);
    g.step();
    await waitFor(() => platform.updates().length === 1);
    g.step();
    await p.drain();
    await waitFor(() => sent.length === 1);
    expect(seen).toEqual(['one two']);
    expect(platform.calls.map((c) => (c.kind === 'send' ? `send:${textOf(c.content)}` : c.kind === 'update' ? `update:${c.text}` : `finish:${textOf(c.content)}`))).toEqual([
      'send:Let me think.',
      'update:one ',
      'finish:one two',
      'send:sources: none',
    ]);
    expect(sent[0]!.deliveries!.map((d) => ({ ids: d.ids, edits: d.edits }))).toEqual([{ ids: ['s1'], edits: undefined }, { ids: ['live1'], edits: 1 }, { ids: ['s4'], edits: undefined }]);
  });

  it('a stream that ends while an update waits for its slot is finished in that slot, not one later', async () => {
    const platform = livePlatform({ limits: { chat: { count: 1, perMs: 300 } } });
    let writer: StreamWriter | undefined;
    let waiting: (() => void) | undefined;
    const inTake = new Promise<void>((resolve) => (waiting = resolve));
    const pacing = (limitsOf: (botId: string) => SendLimits | undefined): Pacing => {
      const pacer = new Pacer(limitsOf);
      return { reserve: (to) => pacer.reserve(to), hold: (to, ms, scope) => pacer.hold(to, ms, scope), take: (to, signal) => (platform.updates().length === 1 && waiting?.(), pacer.take(to, signal)) };
    };
    const bot = defineBot((b) => b.on('message', (ctx) => void (writer = ctx.stream())));
    const p = new Pipeline({ bot, adapters: new Map([['chat', platform.adapter]]), store: new MemoryStore(), logger: silentLogger(), pacing, streams: { idleTimeoutMs: 5000, notice: '(cut short)' } });
    await p.dispatch('chat', { normalize: () => message('hi') });
    await waitFor(() => writer);
    writer!.write('a');
    await waitFor(() => platform.updates().length === 1);
    writer!.write('b');
    await inTake;
    writer!.end();
    await p.drain();
    const [update] = platform.updates();
    const [finish] = platform.finishes();
    expect(textOf(finish!.content)).toBe('ab');
    // The update used the first slot; the finish the one after it (~300 ms), not a third (~600 ms).
    expect(finish!.at - update!.at).toBeLessThan(450);
  });

  it("paces a finish's further messages (its images) through the chat's limits", async () => {
    const image = { type: 'image' as const, url: 'https://example.com/a.png' };
    const { send, finishes, further } = run((ctx) => ctx.reply((async function* () { yield 'look'; yield image; yield image; })()), livePlatform({ limits: { chat: { count: 1, perMs: 100 } } }));
    await send(message('hi'));
    const times = [finishes()[0]!.at, ...further];
    expect(times).toHaveLength(3);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(95);
  });

  it('sends the whole answer as one message on a platform that cannot show it growing', async () => {
    const { send, calls } = run((ctx) => ctx.reply((async function* () { yield 'x'; yield { type: 'buttons', rows: [[{ label: 'ok' }]] }; yield 'y'; })()), livePlatform({ streams: false }));
    await send(message('hi'));
    expect(calls).toHaveLength(1);
    expect((calls[0] as Extract<Call, { kind: 'send' }>).content).toEqual([{ type: 'text', text: 'xy' }, { type: 'buttons', rows: [[{ label: 'ok' }]] }]);
  });

  it('takes a stream returned from the handler', async () => {
    const { send, calls } = run(() => (async function* () { yield 'quick'; })());
    await send(message('hi'));
    const ends = calls.filter((c) => c.kind !== 'update') as Exclude<Call, { kind: 'update' }>[];
    expect(ends.map((c) => textOf(c.content))).toEqual(['quick']);
  });

  it('tells the observer (the operator console) of a stream shown live, with its ids and edits', async () => {
    const deliveries: DeliveryTrace[] = [];
    const trace: Trace = { received() {}, stage() {}, handled() {}, finished() {}, delivery: (_id, d) => void deliveries.push(d) };
    const g = gated(['one ', 'two']);
    const platform = livePlatform({ limits: { chat: { count: 1, perMs: 100 } } });
    const { p } = run((ctx) => ctx.reply(g.stream), platform, {}, undefined, trace);
    await p.dispatch('chat', { normalize: () => message('hi') });
    g.step();
    await waitFor(() => platform.updates().length === 1);
    g.step();
    await p.drain();
    expect(deliveries.map((d) => ({ ok: d.ok, ids: d.ids, edits: d.edits }))).toEqual([{ ok: true, ids: ['live1'], edits: 1 }]);
  });
});
