// The live feed's batches (src/console/feed.ts): every change below the cap; past it, a sample that
// never leaves a row the page holds in progress stale, and keeps unseen work in progress for later.

import { describe, expect, it } from 'vitest';
import type { EventRecord } from '../src/console/buffer.js';
import { FeedBatcher } from '../src/console/feed.js';

let seq = 0;
function record(outcome?: string): EventRecord {
  const n = ++seq;
  return { id: `e${n}`, seq: n, at: 0, platform: 'p', bot: 'b', chat: 'c', user: 'u', text: 't', message: { text: '' }, stages: [], deliveries: [], logs: [], bytes: 0, ...(outcome === undefined ? {} : { outcome }) };
}
const ids = (records: EventRecord[]) => records.map((r) => r.id);

describe('FeedBatcher', () => {
  it('sends every change while a batch is under the cap, each record once however often it changed', () => {
    const feed = new FeedBatcher(10);
    const a = record();
    const b = record('answered');
    feed.changed(a);
    feed.changed(b);
    feed.changed(a);
    expect(ids(feed.take())).toEqual([a.id, b.id]);
    expect(feed.take()).toEqual([]);
  });

  it('past the cap: rows the page follows first, then the newest finished; unseen work in progress waits', () => {
    const feed = new FeedBatcher(3);
    const followed = record();
    feed.changed(followed);
    expect(ids(feed.take())).toEqual([followed.id]);
    followed.outcome = 'answered';
    const finished = Array.from({ length: 5 }, () => record('answered'));
    const unseen = record();
    for (const r of [followed, ...finished, unseen]) feed.changed(r);
    const batch = feed.take();
    expect(batch).toHaveLength(3);
    // The followed row gets its outcome (never stale), then the two newest finished ones.
    expect(ids(batch)).toEqual([followed.id, finished[4]!.id, finished[3]!.id]);
    // The unseen one in progress is kept for the next batch, by then finished.
    expect(feed.waiting).toBe(1);
    unseen.outcome = 'answered';
    expect(ids(feed.take())).toEqual([unseen.id]);
  });

  it('follows a row sent in progress until it is sent finished, then forgets it', () => {
    const feed = new FeedBatcher(1);
    const slow = record();
    feed.changed(slow);
    feed.take();
    // Under pressure, a newer finished record does not push the followed row's change out.
    slow.outcome = 'failed';
    feed.changed(record('answered'));
    feed.changed(slow);
    expect(ids(feed.take())).toEqual([slow.id]);
    // Sent finished: no longer followed, so a later change of it competes like any finished one.
    const newer = record('answered');
    feed.changed(slow);
    feed.changed(newer);
    expect(ids(feed.take())).toEqual([newer.id]);
  });
});
