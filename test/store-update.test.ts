// KeyValue.update, what ctx.state.update stands on, on every backend: one atomic step, its TTL,
// and no update lost when many run at once on one key, also from two stores on one SQLite file
// and two connections to one Redis.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../src/store/index.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { tempStorePath, waitFor } from './helpers.js';
import { requireRedis } from './redis.js';
import { backends, dropPrefixes } from './store-backends.js';

const opened: Store[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});
beforeAll(() => requireRedis());
afterAll(() => dropPrefixes());

const increment = (n: number | undefined) => (n ?? 0) + 1;

describe.each(backends)('%s store: update', (_name, backend) => {
  const open = async (place = backend.place(), clock = { now: Date.now() }) => {
    const store = await backend.open(place, () => clock.now);
    opened.push(store);
    return store;
  };
  const { ttl } = backend;

  it('passes the current value (none at first) to the change and writes what it returns; undefined deletes the key', async () => {
    const store = await open();
    const seen: unknown[] = [];
    expect(await store.update<{ n: number }>('k', (old) => (seen.push(old), { n: (old?.n ?? 0) + 1 }))).toEqual({ n: 1 });
    expect(await store.update<{ n: number }>('k', (old) => (seen.push(old), { n: old!.n + 1 }))).toEqual({ n: 2 });
    expect(seen).toEqual([undefined, { n: 1 }]);
    expect(await store.get('k')).toEqual({ n: 2 });
    expect(await store.update('k', () => undefined)).toBeUndefined();
    expect(await store.get('k')).toBeUndefined();
    expect(await store.update('never', () => undefined)).toBeUndefined();
    expect(await store.get('never')).toBeUndefined();
  });

  it('fails only the caller whose change throws: the key keeps its value, and writes asked for beside it are made', async () => {
    const store = await open();
    await store.set('k', 5);
    const [thrown, other, counted] = await Promise.allSettled([
      store.update<number>('k', () => {
        throw new Error('no thanks');
      }),
      store.set('other', 'written'),
      store.update('count', increment),
    ]);
    expect(thrown).toMatchObject({ status: 'rejected', reason: { message: 'no thanks' } });
    expect([other.status, counted]).toEqual(['fulfilled', { status: 'fulfilled', value: 1 }]);
    expect([await store.get('k'), await store.get('other'), await store.get('count')]).toEqual([5, 'written', 1]);
  });

  it('gives a value with a TTL that long to live; an update without one keeps the expiry the key had, one with a TTL sets a new one', async () => {
    const clock = { now: 1_000_000 };
    const store = await open(undefined, clock);
    await store.update('ttl', increment, ttl);
    await store.set('window', 1, ttl);
    await store.update('window', increment); // still runs out with the first TTL
    await store.set('renewed', 1, ttl);
    await store.update('renewed', increment, 10 * ttl);
    await store.update('forever', increment);
    expect([await store.get('ttl'), await store.get('window'), await store.get('renewed')]).toEqual([1, 2, 2]);
    await backend.pass(clock, ttl + 50);
    expect([await store.get('ttl'), await store.get('window'), await store.get('renewed'), await store.get('forever')]).toEqual([undefined, undefined, 2, 1]);
    // An expired key is no value: the next update starts from nothing.
    expect(await store.update('window', increment)).toBe(1);
  });

  it('loses no update when many run at once on one key, from two stores sharing the data where the backend can', async () => {
    const place = backend.place();
    const stores = backend.sharesPlace ? [await open(place), await open(place)] : [await open(place)];
    const runs = 120;
    const results = await Promise.all(Array.from({ length: runs }, (_, i) => stores[i % stores.length]!.update('hits', increment)));
    expect(await stores[0]!.get('hits')).toBe(runs);
    // Each update saw the one before it: every count from 1 to runs was written exactly once.
    expect(results.sort((a, b) => a! - b!)).toEqual(Array.from({ length: runs }, (_, i) => i + 1));
    if (stores[1]) expect(await stores[1].get('hits')).toBe(runs);
  });
});

describe('sqlite store: update from two processes', () => {
  const worker = fileURLToPath(new URL('./fixtures/update-worker.ts', import.meta.url));

  it('loses no update when two processes update one key of one file at the same time, each update its own transaction', async () => {
    const path = tempStorePath();
    SqliteStore.open({ path }).close(); // created and migrated once, before the two race
    const runs = 300;
    const children = [0, 1].map(() => {
      const child = spawn(process.execPath, ['--import', 'tsx', worker, path, String(runs)], { stdio: ['pipe', 'pipe', 'pipe'] });
      const output = { text: '' };
      child.stdout.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
      return { child, output, exited: once(child, 'exit') as Promise<[number | null]> };
    });
    await waitFor(() => children.every((c) => c.output.text.includes('ready')), 20_000, 'both workers to open the store');
    for (const { child } of children) child.stdin.end('go\n');
    const codes = await Promise.all(children.map((c) => c.exited.then(([code]) => code)));
    expect({ codes, outputs: children.map((c) => c.output.text) }).toEqual({ codes: [0, 0], outputs: ['ready\ndone\n', 'ready\ndone\n'] });
    const store = SqliteStore.open({ path });
    opened.push(store);
    expect(await store.get('hits')).toBe(2 * runs);
  }, 60_000);
});
