// The SQLite store checkpoints its WAL from a worker thread (src/store/sqlite/checkpoints.ts), not
// in the commits of the event loop. A checkpoint beside commits that never pause never finishes
// the WAL, and SQLite starts it over only when one has: these commits never pause, and the WAL
// must still start over (its header's checkpoint sequence moves) and stay small.

import { openSync, readSync, closeSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Checkpoints, commitsPerRound, maxCommitsBeside } from '../src/store/sqlite/checkpoints.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { tempStorePath } from './helpers.js';

/** The WAL header's checkpoint sequence number: SQLite adds one each time it starts the WAL over. */
function walResets(path: string): number {
  const fd = openSync(`${path}-wal`, 'r');
  try {
    const header = Buffer.alloc(16);
    return readSync(fd, header, 0, 16, 0) === 16 ? header.readUInt32BE(12) : 0;
  } finally {
    closeSync(fd);
  }
}

describe('SQLite WAL checkpoints', () => {
  it('start the WAL over while commits go on every turn, and keep it small; every write lands, in order', async () => {
    const path = tempStorePath();
    const store = SqliteStore.open({ path });
    const walMb = () => statSync(`${path}-wal`).size / 2 ** 20;
    const value = 'v'.repeat(4096);
    try {
      await store.set('warm', 1);
      const first = walResets(path);
      let largest = 0;
      let turns = 0;
      const writes: Promise<unknown>[] = [];
      // A commit every turn of the event loop, each a few pages, until the WAL has started over three times.
      while (walResets(path) < first + 3) {
        if (++turns > 20_000) throw new Error(`the WAL never started over: ${walMb().toFixed(1)} MB after ${turns} commits`);
        writes.push(store.set(`k${turns % 500}`, `${turns}:${value}`), store.set('last', turns));
        await new Promise((resolve) => setImmediate(resolve));
        largest = Math.max(largest, walMb());
      }
      await Promise.all(writes);
      expect(largest).toBeLessThan(16);
      expect(await store.get('last')).toBe(turns);
      expect(((await store.get<string>(`k${turns % 500}`)) ?? '').startsWith(`${turns}:`)).toBe(true);
    } finally {
      await store.close();
      rmSync(dirname(path), { recursive: true, force: true });
    }
  });

  it('holds the commits past maxCommitsBeside until the checkpoint beside them ends, so a starved worker cannot let the WAL grow', async () => {
    const path = tempStorePath();
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    const calls: string[] = [];
    let roundOver!: () => void;
    const over = new Promise<void>((resolve) => (roundOver = resolve));
    const release = () => {
      calls.push('release');
      if (calls.length === 4) roundOver();
    };
    const checkpoints = new Checkpoints(db, path, { hold: () => calls.push('hold'), release }, 1000);
    try {
      // A round starts beside the commits; its worker can answer only on a later turn of the event loop.
      for (let i = 0; i < commitsPerRound; i++) checkpoints.committed();
      for (let i = 1; i < maxCommitsBeside; i++) checkpoints.committed();
      expect(calls).toEqual([]);
      checkpoints.committed();
      expect(calls).toEqual(['hold']);
      // The checkpoint beside ends: the commits go on only to be held again for the round's second checkpoint, then go.
      await over;
      expect(calls).toEqual(['hold', 'release', 'hold', 'release']);
    } finally {
      await checkpoints.close();
      db.close();
      rmSync(dirname(path), { recursive: true, force: true });
    }
  });

  it('closes with every write committed to the database file, the worker stopped with it', async () => {
    const path = tempStorePath();
    let store = SqliteStore.open({ path });
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      writes.push(store.set(`k${i}`, i));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(writes);
    await store.close();
    try {
      // Closed: the last connection checkpointed and removed the WAL.
      expect(() => statSync(`${path}-wal`)).toThrow();
      store = SqliteStore.open({ path });
      expect(await store.get('k299')).toBe(299);
      expect(await store.get('k0')).toBe(0);
    } finally {
      await store.close();
      rmSync(dirname(path), { recursive: true, force: true });
    }
  });
});
