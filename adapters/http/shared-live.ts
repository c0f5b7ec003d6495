// Growing answers on a store other instances share: the instance handling a message keeps the
// text each of its growing items shows so far under the msg_id, and signals it; an instance whose
// client opened the event stream reads it at each signal and sends the client what it lacks. A
// burst of updates costs one write at a time, of the latest text (deltas are drafts: what a
// stream misses, `done` carries). Entries leave by cacheTtl, as the answers polled do: a stream
// reads the entry once more before its `done`, and the message may be handled by then.

import type { KeyValue, Signals } from '../../src/store/index.js';

/** One message's write loop: `items` is the latest text to keep, `dirty` that it is not kept yet. */
interface Writing {
  items: ReadonlyMap<string, string>;
  dirty: boolean;
  /** Settles when the loop has kept the latest text. */
  kept?: Promise<void>;
}

export class SharedLive {
  private readonly writing = new Map<string, Writing>();

  constructor(
    private readonly store: KeyValue & Signals,
    private readonly scope: string,
    private readonly ttlMs: number,
  ) {}

  /** Keeps what `msgId`'s growing items show now, and tells the instances following it. */
  publish(msgId: string, items: ReadonlyMap<string, string>): void {
    const running = this.writing.get(msgId);
    if (running) {
      running.items = items;
      running.dirty = true;
      return;
    }
    const writing: Writing = { items, dirty: true };
    this.writing.set(msgId, writing);
    writing.kept = this.write(msgId, writing);
  }

  /** Settles once the latest text of `msgId` is kept: before its answer is, so a stream's last read finds all of it. */
  async kept(msgId: string): Promise<void> {
    await this.writing.get(msgId)?.kept;
  }

  /** What `msgId`'s growing items showed when last kept; nothing when the store cannot say. */
  async read(msgId: string): Promise<[string, string][]> {
    const items = await this.store.get<Record<string, string>>(this.key(msgId)).catch(() => undefined);
    return items ? Object.entries(items) : [];
  }

  /**
   * Calls `onItems` with what `msgId`'s growing items show, now and after each change made on any
   * instance, until the returned function is called. Reads one at a time; a signal during a read
   * makes one more.
   */
  follow(msgId: string, onItems: (items: Iterable<[string, string]>) => void): () => void {
    const key = this.key(msgId);
    let stopped = false;
    let reading = false;
    let again = false;
    let unwatch: (() => void) | undefined;
    const read = async () => {
      if (reading) return void (again = true);
      reading = true;
      do {
        again = false;
        const items = await this.read(msgId);
        if (!stopped) onItems(items);
      } while (again && !stopped);
      reading = false;
    };
    // Watching before the first read: a change between the two is not missed.
    this.store.watch(key, () => void read()).then(
      (stop) => {
        if (stopped) return stop();
        unwatch = stop;
        void read();
      },
      () => {}, // signals cannot reach this instance now: the stream gets its answer in `done`
    );
    return () => {
      stopped = true;
      unwatch?.();
    };
  }

  private async write(msgId: string, writing: Writing): Promise<void> {
    const key = this.key(msgId);
    while (writing.dirty) {
      writing.dirty = false;
      try {
        await this.store.set(key, Object.fromEntries(writing.items), this.ttlMs);
        await this.store.notify(key);
      } catch {
        // A delta that could not be shared: a stream on another instance shows it with the next one, or in `done`.
      }
    }
    this.writing.delete(msgId);
  }

  private key(msgId: string): string {
    return `http:${this.scope}:live:${msgId}`;
  }
}
