// KeyValue.update on SQLite: the read, the caller's change and the write run inside one write
// transaction (the batch's, which takes the file's write lock when it begins), so no other
// connection, in this process or another, writes the key in between.

import { decode, encode } from '../codec.js';
import type { SqliteStore } from './index.js';

type Outcome<T> = { value: T | undefined } | { failed: unknown };

export async function updateEntry<T>(store: SqliteStore, key: string, change: (old: T | undefined) => T | undefined, ttlMs?: number): Promise<T | undefined> {
  const outcome = await store.write((): Outcome<T> => {
    const now = store.time;
    const row = store.sql.entry.get(key, now) as { value: string; expires: number | null } | undefined;
    let next: T | undefined;
    let text: string | undefined;
    // A change that throws (or a value that cannot be encoded) fails its caller only, not the
    // other writes committed in the same batch.
    try {
      next = change(row ? decode<T>(row.value) : undefined);
      if (next !== undefined) text = encode(next);
    } catch (error) {
      return { failed: error };
    }
    if (text === undefined) store.sql.delete.run(key);
    else store.sql.set.run(key, text, ttlMs === undefined || !Number.isFinite(ttlMs) ? (row?.expires ?? null) : now + ttlMs);
    return { value: next };
  });
  if ('failed' in outcome) throw outcome.failed;
  return outcome.value;
}
