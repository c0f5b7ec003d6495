// What one batch of the live feed carries. A page draws at most 200 rows, so at thousands of
// messages a second most summaries would be serialized, sent and parsed only to be dropped.
// Past `cap` changed records in a batch the feed samples: a record this page holds while it is in
// progress always gets its next change (a row never stays stale), then the newest finished ones;
// one in progress the page has not seen waits for the next batch, by which time it has usually
// finished. Below the cap (100 messages/s is 10 a batch) every change goes out.

import type { EventRecord } from './buffer.js';
import { renewEvery } from '../pipeline/replayable.js';

/**
 * Changed records per batch before the feed samples: half the rows a page draws, every 100 ms. A
 * thousand rows a second is past reading; more only costs the server its JSON and socket writes
 * (with the feed read, 250 measured about 0.89 of the plain echo's msg/s, 100 about 0.98).
 */
export const feedCap = 100;

/** Where a batch's records come from: the buffer (EventBuffer), asked at each batch rather than told at each change. */
export interface FeedSource {
  readonly version: number;
  changedSince(version: number): EventRecord[];
}

export class FeedBatcher {
  /** The source's version when the last batch was taken: what changed after it is new. */
  private seen: number;
  /** Work in progress the page has not seen, left out of a sampled batch: offered again in the next. */
  private deferred: EventRecord[] = [];
  /**
   * Records this page was sent while in progress: their next change is always sent. It churns an
   * entry per message, so it moves onto a fresh set every renewEvery records sent (a table V8
   * grows or shrinks is born where the last one was: pipeline/replayable.ts).
   */
  private following = new Set<string>();
  private sentSinceRenewal = 0;

  constructor(
    private readonly source: FeedSource,
    private readonly cap = feedCap,
  ) {
    this.seen = source.version;
  }

  /** Records deferred to the next batch. */
  get waiting(): number {
    return this.deferred.length;
  }

  /** The records to send now; what is not sent now is dropped, or, in progress and unseen, kept for the next batch. */
  take(): EventRecord[] {
    const changed = this.source.changedSince(this.seen);
    this.seen = this.source.version;
    if (this.deferred.length > 0) {
      const fresh = new Set(changed);
      changed.unshift(...this.deferred.filter((record) => !fresh.has(record)));
      this.deferred = [];
    }
    const batch = changed.length <= this.cap ? changed : this.sample(changed);
    for (const record of batch) {
      if (record.outcome === undefined) this.following.add(record.id);
      else this.following.delete(record.id);
    }
    this.sentSinceRenewal += batch.length;
    if (this.sentSinceRenewal >= renewEvery) {
      this.sentSinceRenewal = 0;
      this.following = new Set(this.following);
    }
    return batch;
  }

  private sample(changed: EventRecord[]): EventRecord[] {
    const batch: EventRecord[] = [];
    const finished: EventRecord[] = [];
    for (const record of changed) {
      if (this.following.has(record.id)) batch.push(record);
      else if (record.outcome !== undefined) finished.push(record);
      else this.deferred.push(record);
    }
    finished.sort((a, b) => b.seq - a.seq);
    for (const record of finished) {
      if (batch.length >= this.cap) break;
      batch.push(record);
    }
    return batch;
  }
}
