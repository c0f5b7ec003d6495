// The console's memory: a ring of the last N messages, each with a byte budget, secrets masked;
// the page's feed store, bounded and changed once per frame however fast batches come; the charts'
// samples of the /metrics counters, an hour of them.

import { describe, expect, it } from 'vitest';
import { EventBuffer, summary, summaryJson } from '../src/console/buffer.js';
import { Numbers, quantile } from '../src/console/numbers.js';
import { Metrics } from '../src/runtime/metrics.js';
import type { Message } from '../src/message.js';
import { FeedStore } from '../console/src/feed-store.js';
import type { EventSummary } from '../console/src/api.js';

function message(text: string, chat = 'c1'): Message {
  return { id: 'm', platform: 'sandbox', botId: 'sb', channel: { id: chat, type: 'direct' }, author: { id: 'u1', name: 'Ann' }, content: [{ type: 'text', text }], text, mentionsBot: false, timestamp: 0, raw: { big: 'x'.repeat(10_000) } } as Message;
}

describe('EventBuffer', () => {
  it('keeps only the last `capacity` messages, the oldest going first', () => {
    const buffer = new EventBuffer({ capacity: 3, eventBytes: 4096 });
    for (let i = 0; i < 5; i++) buffer.received(`e${i}`, message(`hello ${i}`));
    expect(buffer.size).toBe(3);
    expect(buffer.latest().map((r) => r.id)).toEqual(['e4', 'e3', 'e2']);
    expect(buffer.get('e0')).toBeUndefined();
    // A trace for a message pushed out is dropped, not kept somewhere.
    buffer.handled('e0', 1);
    expect(buffer.size).toBe(3);
  });

  it('holds at most eventBytes of bodies per message, cutting what does not fit and saying so', () => {
    const buffer = new EventBuffer({ capacity: 10, eventBytes: 2048 });
    buffer.received('e1', message('hi'));
    const body = JSON.stringify({ filler: 'y'.repeat(5000) });
    buffer.stage('e1', { stage: 'onMessage', url: 'http://cb/onMessage', request: { headers: {}, body }, status: 200, response: { headers: {}, body: Buffer.from(body) }, ms: 3.14159, outcome: 'continue' });
    for (let i = 0; i < 100; i++) buffer.log('e1', `{"event":"e1","msg":"line ${i} ${'z'.repeat(100)}"}`);
    const record = buffer.get('e1')!;
    expect(record.bytes).toBeLessThanOrEqual(2048);
    expect(record.stages[0]!.request!.body.truncated).toBe(body.length);
    expect(record.stages[0]!.ms).toBe(3.1);
    // The platform's raw payload is not kept at all; the message is served as JSON.
    const served = JSON.parse(JSON.stringify(record.message)) as { text: string };
    expect(JSON.parse(served.text)).toMatchObject({ id: 'm', platform: 'sandbox', text: 'hi' });
    expect(served.text).not.toContain('xxxx');
    // Lists are bounded too: a chatty message does not grow without end.
    expect(record.logs.length).toBeLessThanOrEqual(50);
    // Headers count: a callback answering with a lot of them is not kept past the budget.
    buffer.stage('e1', { stage: 'onSent', url: 'http://cb/onSent', status: 200, response: { headers: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-h${i}`, 'v'.repeat(50)])), body: new Uint8Array() }, ms: 1, outcome: 'continue' });
    expect(Object.keys(buffer.get('e1')!.stages[1]!.response!.headers)).toEqual(['(not kept)']);
    expect(buffer.get('e1')!.bytes).toBeLessThanOrEqual(2048);
  });

  it('renders a kept message when served, within the budget; a big one is cut at once', () => {
    const buffer = new EventBuffer({ capacity: 10, eventBytes: 4096 });
    buffer.received('small', message('hello'));
    buffer.received('big', message('b'.repeat(10_000)));
    const served = (id: string) => JSON.parse(JSON.stringify(buffer.get(id)!.message)) as { text: string; truncated?: number };
    expect(served('small').truncated).toBeUndefined();
    expect(served('big').truncated).toBeGreaterThan(20_000);
    expect(served('big').text.length).toBeLessThanOrEqual(4096);
    expect(buffer.get('big')!.bytes).toBeLessThanOrEqual(4096);
    // A reply with bytes shows their size, not the bytes.
    buffer.delivery('small', { key: 'small:0', message: { to: { botId: 'sb', channelId: 'c1', type: 'direct' }, content: [{ type: 'image', data: new Uint8Array(5000), mime: 'image/png' }] }, ok: true, ids: ['1'], ms: 1 } as never);
    expect(JSON.stringify(buffer.get('small')!.deliveries[0]!.message)).toContain('[5000 bytes]');
  });

  it('masks signing and credential headers, keeps an image reply as an image', () => {
    const buffer = new EventBuffer({ capacity: 10, eventBytes: 64 * 1024 });
    buffer.received('e1', message('hi'));
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
    buffer.stage('e1', {
      stage: 'onMessage',
      url: 'http://cb/onMessage',
      request: { headers: { 'webhook-id': 'e1.onMessage', 'webhook-signature': 'v1,abc', authorization: 'Bearer s3cret' }, body: '{}' },
      status: 200,
      response: { headers: { 'content-type': 'image/png', 'set-cookie': ['a=b'], 'x-api-token': 'tok' }, body: png },
      ms: 1,
      outcome: 'stopped',
    });
    const stage = buffer.get('e1')!.stages[0]!;
    expect(stage.request!.headers).toEqual({ 'webhook-id': 'e1.onMessage', 'webhook-signature': '********', authorization: '********' });
    expect(stage.response!.headers['set-cookie']).toBe('********');
    expect(stage.response!.headers['x-api-token']).toBe('********');
    expect(stage.response!.body).toEqual({ text: png.toString('base64'), base64: true });
    expect(JSON.stringify(buffer.get('e1'))).not.toMatch(/s3cret|abc"|tok"/);
  });

  it('summarises a record for the feed without its bodies, and tells each change', () => {
    const buffer = new EventBuffer({ capacity: 10, eventBytes: 4096 });
    const woken: number[] = [];
    buffer.onNextChange(() => woken.push(buffer.version));
    const before = buffer.version;
    buffer.received('e1', message('a long text '.repeat(40)));
    buffer.delivery('e1', { key: 'e1:0', message: { to: { botId: 'sb', channelId: 'c1', type: 'direct' }, content: [{ type: 'text', text: 'hi' }] }, ok: true, ids: ['42'], ms: 2 });
    buffer.finished('e1', 'answered', 9);
    const s = summary(buffer.get('e1')!);
    expect(s).toMatchObject({ id: 'e1', platform: 'sandbox', chat: 'c1', user: 'Ann (u1)', outcome: 'answered', deliveries: [{ key: 'e1:0', ok: true, ids: ['42'] }] });
    expect(s.text.length).toBeLessThanOrEqual(200);
    expect(Object.keys(s)).not.toContain('logs');
    // Woken once, at the first change; what changed since is asked, not told.
    expect(woken).toEqual([before + 1]);
    expect(buffer.version).toBe(before + 3);
    expect(buffer.changedSince(before).map((r) => r.id)).toEqual(['e1']);
    expect(buffer.changedSince(buffer.version)).toEqual([]);
    // The feed's JSON is the summary's, made without building it.
    expect(JSON.parse(summaryJson([buffer.get('e1')!]))).toEqual([JSON.parse(JSON.stringify(s))]);
  });
});

describe('EventBuffer.changedSince', () => {
  it('names the records changed after a version, oldest first, and forgets those pushed out', () => {
    const buffer = new EventBuffer({ capacity: 3, eventBytes: 4096 });
    for (const id of ['e1', 'e2', 'e3']) buffer.received(id, message(id));
    const seen = buffer.version;
    buffer.finished('e3', 'answered', 1);
    buffer.finished('e1', 'answered', 1);
    expect(buffer.changedSince(seen).map((r) => r.id)).toEqual(['e1', 'e3']);
    // e4 takes e1's slot: e1 is gone from the buffer, and so from what changed.
    buffer.received('e4', message('e4'));
    expect(buffer.changedSince(seen).map((r) => r.id)).toEqual(['e3', 'e4']);
    expect(buffer.changedSince(0).map((r) => r.id)).toEqual(['e2', 'e3', 'e4']);
    // A change of a record pushed out changes nothing.
    const version = buffer.version;
    buffer.finished('e1', 'failed', 1);
    expect(buffer.version).toBe(version);
  });

  it('wakes each waiting reader once, at the next change, unless it stopped waiting', () => {
    const buffer = new EventBuffer({ capacity: 3, eventBytes: 4096 });
    let a = 0;
    let b = 0;
    buffer.onNextChange(() => a++);
    const cancel = buffer.onNextChange(() => b++);
    cancel();
    buffer.received('e1', message('x'));
    buffer.finished('e1', 'answered', 1);
    expect([a, b]).toEqual([1, 0]);
  });
});

describe('FeedStore (the page)', () => {
  const event = (seq: number): EventSummary => ({ id: `e${seq}`, seq, at: 0, platform: 'p', bot: 'b', chat: 'c', user: 'u', text: '', stages: [], deliveries: [] });

  it('applies any number of batches in one frame, keeping the newest `max`', () => {
    const frames: (() => void)[] = [];
    let renders = 0;
    const store = new FeedStore(100, () => renders++, (apply) => frames.push(apply));
    for (let b = 0; b < 50; b++) store.add(Array.from({ length: 10 }, (_, i) => event(b * 10 + i)));
    expect(frames).toHaveLength(1);
    frames.shift()!();
    expect(renders).toBe(1);
    expect(store.list()).toHaveLength(100);
    expect(store.list()[0]!.seq).toBe(499);
    expect(store.list().at(-1)!.seq).toBe(400);
  });

  it('paused, holds what arrives (bounded) and shows it on resume', () => {
    const frames: (() => void)[] = [];
    const store = new FeedStore(5, () => {}, (apply) => frames.push(apply));
    store.setPaused(true);
    store.add([event(1), event(2), event(3), event(4), event(5), event(6), event(7)]);
    frames.shift()!();
    expect(store.list()).toEqual([]);
    expect(store.waiting).toBe(5);
    store.setPaused(false);
    frames.shift()!();
    expect(store.list().map((e) => e.seq)).toEqual([7, 6, 5, 4, 3]);
  });
});

describe('Numbers (the charts)', () => {
  it('turns counter samples into messages per minute, latency percentiles and error rates', async () => {
    const metrics = new Metrics();
    metrics.describe('switchboard_messages_total', 'm').describe('switchboard_callback_seconds', 's').describe('switchboard_callback_calls_total', 'c');
    const numbers = new Numbers(metrics, 10_000);
    metrics.inc('switchboard_messages_total', { platform: 'sandbox', bot: 'sb', outcome: 'answered' }, 0);
    await numbers.sample(0);
    metrics.inc('switchboard_messages_total', { platform: 'sandbox', bot: 'sb', outcome: 'answered' }, 9);
    metrics.inc('switchboard_messages_total', { platform: 'sandbox', bot: 'sb', outcome: 'handler failed' }, 1);
    for (let i = 0; i < 99; i++) metrics.observe('switchboard_callback_seconds', { stage: 'onMessage' }, 0.02);
    metrics.observe('switchboard_callback_seconds', { stage: 'onMessage' }, 3);
    metrics.inc('switchboard_callback_calls_total', { stage: 'onMessage', outcome: '2xx' }, 99);
    metrics.inc('switchboard_callback_calls_total', { stage: 'onMessage', outcome: 'timeout' }, 1);
    await numbers.sample(10_000);
    const charts = numbers.charts();
    expect(charts.at).toEqual([10_000]);
    // 10 messages in 10 s: 60 a minute.
    expect(charts.messagesPerMinute).toEqual({ sandbox: [60] });
    const { p50, p99 } = charts.latency.onMessage!;
    expect(p50[0]).toBeGreaterThan(0.01);
    expect(p50[0]).toBeLessThanOrEqual(0.025);
    expect(p99[0]).toBeLessThanOrEqual(0.025);
    expect(charts.errorRate.messages).toEqual([0.1]);
    expect(charts.errorRate.callbacks).toEqual([0.01]);
    expect(charts.errorRate.deliveries).toEqual([null]);
    expect(quantile([[1, 0], [Infinity, 0]], 0.5)).toBeNull();
  });

  it('keeps one hour of samples, not more', async () => {
    const numbers = new Numbers(new Metrics(), 10_000);
    for (let i = 0; i < 500; i++) await numbers.sample(i * 10_000);
    expect(numbers.charts().at).toHaveLength(360);
  });
});
