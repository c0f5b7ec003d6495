// The live feed's batches (src/console/feed.ts): every change below the cap; past it, a sample that
// never leaves a row the page holds in progress stale, and keeps unseen work in progress for later;
// and the feed itself, read over HTTP as the console's page reads it.

import { afterEach, describe, expect, it } from 'vitest';
import type { EventRecord, EventSummary } from '../src/console/buffer.js';
import { FeedBatcher, type FeedSource } from '../src/console/feed.js';
import { defineBot } from '../src/bot/bot.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { startWithConsole } from './console-helpers.js';

let seq = 0;
function record(outcome?: string): EventRecord {
  const n = ++seq;
  return { id: `e${n}`, seq: n, at: 0, platform: 'p', bot: 'b', chat: 'c', user: 'u', text: 't', message: { text: '' }, stages: [], deliveries: [], logs: [], bytes: 0, ...(outcome === undefined ? {} : { outcome }) };
}
const ids = (records: EventRecord[]) => records.map((r) => r.id);

/** The buffer's side as the batcher sees it: each change stamps a record with the next version. */
class Changes implements FeedSource {
  version = 0;
  private readonly stamps = new Map<EventRecord, number>();

  change(...records: EventRecord[]): void {
    for (const record of records) this.stamps.set(record, ++this.version);
  }

  changedSince(version: number): EventRecord[] {
    return [...this.stamps].filter(([, stamp]) => stamp > version).map(([record]) => record).sort((a, b) => a.seq - b.seq);
  }
}

describe('FeedBatcher', () => {
  it('sends every change while a batch is under the cap, each record once however often it changed', () => {
    const changes = new Changes();
    const feed = new FeedBatcher(changes, 10);
    const a = record();
    const b = record('answered');
    changes.change(a, b, a);
    expect(ids(feed.take())).toEqual([a.id, b.id]);
    expect(feed.take()).toEqual([]);
  });

  it('past the cap: rows the page follows first, then the newest finished; unseen work in progress waits', () => {
    const changes = new Changes();
    const feed = new FeedBatcher(changes, 3);
    const followed = record();
    changes.change(followed);
    expect(ids(feed.take())).toEqual([followed.id]);
    followed.outcome = 'answered';
    const finished = Array.from({ length: 5 }, () => record('answered'));
    const unseen = record();
    changes.change(followed, ...finished, unseen);
    const batch = feed.take();
    expect(batch).toHaveLength(3);
    // The followed row gets its outcome (never stale), then the two newest finished ones.
    expect(ids(batch)).toEqual([followed.id, finished[4]!.id, finished[3]!.id]);
    // The unseen one in progress is kept for the next batch, by then finished (whether or not it changed again).
    expect(feed.waiting).toBe(1);
    unseen.outcome = 'answered';
    expect(ids(feed.take())).toEqual([unseen.id]);
  });

  it('follows a row sent in progress until it is sent finished, then forgets it', () => {
    const changes = new Changes();
    const feed = new FeedBatcher(changes, 1);
    const slow = record();
    changes.change(slow);
    feed.take();
    // Under pressure, a newer finished record does not push the followed row's change out.
    slow.outcome = 'failed';
    changes.change(record('answered'), slow);
    expect(ids(feed.take())).toEqual([slow.id]);
    // Sent finished: no longer followed, so a later change of it competes like any finished one.
    const newer = record('answered');
    changes.change(slow, newer);
    expect(ids(feed.take())).toEqual([newer.id]);
  });

  it('starts from what the source holds when it is made: a page gets what changes after it subscribed', () => {
    const changes = new Changes();
    const before = record('answered');
    changes.change(before);
    const feed = new FeedBatcher(changes);
    expect(feed.take()).toEqual([]);
    const after = record();
    changes.change(after);
    expect(ids(feed.take())).toEqual([after.id]);
  });
});

describe('the live feed over HTTP (/console/api/feed)', () => {
  const token = 'a-console-token-of-some-length';
  let runtime: Runtime | undefined;
  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
  });

  /** A logged-in reader of the feed: the summaries of each `data:` batch, as they come. */
  async function subscribe(url: string, cookie: string) {
    const abort = new AbortController();
    const res = await fetch(`${url}/console/api/feed`, { headers: { cookie }, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    /** Reads until a batch holds a summary matching `wanted`. */
    const until = async (wanted: (summary: EventSummary) => boolean): Promise<EventSummary> => {
      for (;;) {
        for (const [, json] of text.matchAll(/^data: (.*)$/gm)) {
          const found = (JSON.parse(json!) as EventSummary[]).find(wanted);
          if (found) return found;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error(`the feed ended; it had sent: ${text}`);
        text += value;
      }
    };
    return { until, close: () => abort.abort() };
  }

  it('sends every open page each message, then its outcome, batch after batch; a page that left stops none of them', async () => {
    const started = await startWithConsole(`platforms: [{ id: sandbox, type: sandbox }]\nconsole: { token: "${token}" }`);
    runtime = started.runtime;
    const { url } = started;
    const login = await fetch(`${url}/console/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url }, body: new URLSearchParams({ token }) });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const pages = [await subscribe(url, cookie), await subscribe(url, cookie)];
    const left = await subscribe(url, cookie);
    left.close();
    for (const text of ['/ping', 'hello there']) {
      const posted = await fetch(`${url}/sandbox/sandbox/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chat: { id: 'dm:ann', type: 'direct' }, user: { id: 'ann', name: 'Ann' }, text }) });
      expect(posted.status).toBeLessThan(300);
      for (const page of pages) {
        const seen = await page.until((s) => s.text === text && s.outcome !== undefined);
        expect(seen).toMatchObject({ platform: 'sandbox', chat: 'dm:ann', user: 'Ann (ann)' });
        expect(seen.deliveries.every((d) => d.ok)).toBe(true);
      }
    }
    for (const page of pages) page.close();
  }, 20_000);

  it("times the handler's run, and says when it threw", async () => {
    // The slow handler runs until the page has seen its message in progress, and times itself.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let ran = 0;
    const bot = defineBot((b) => {
      b.command('boom', () => {
        throw new Error('the handler broke');
      });
      b.command('slow', async (ctx) => {
        const started = performance.now();
        await gate;
        ran = performance.now() - started;
        await ctx.reply('done');
      });
    });
    const started = await startWithConsole(`platforms: [{ id: sandbox, type: sandbox }]\nconsole: { token: "${token}" }`, { bot });
    runtime = started.runtime;
    const login = await fetch(`${started.url}/console/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: started.url }, body: new URLSearchParams({ token }) });
    const page = await subscribe(started.url, login.headers.get('set-cookie')!.split(';')[0]!);
    const post = (text: string) => fetch(`${started.url}/sandbox/sandbox/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chat: { id: 'dm:ann', type: 'direct' }, user: { id: 'ann', name: 'Ann' }, text }) });
    await post('/slow');
    // In progress: no handler time yet, as the handler has not ended.
    expect((await page.until((s) => s.text === '/slow')).handler).toBeUndefined();
    open();
    const slow = await page.until((s) => s.text === '/slow' && s.outcome !== undefined);
    expect(slow.handler).toMatchObject({ outcome: 'ok' });
    // The time covers the handler's whole run (the console rounds to 0.1 ms).
    expect(slow.handler!.ms).toBeGreaterThanOrEqual(Math.floor(ran * 10) / 10);
    expect(ran).toBeGreaterThan(0);
    await post('/boom');
    const boom = await page.until((s) => s.text === '/boom' && s.outcome !== undefined);
    expect(boom.handler).toMatchObject({ outcome: 'threw', error: expect.stringContaining('the handler broke') });
    expect(boom.outcome).toBe('handler failed');
    page.close();
  }, 20_000);
});
