import { readFileSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { OutgoingMessage } from '../src/message.js';
import { StoreError, type Store } from '../src/store/index.js';
import { migrations } from '../src/store/sqlite/migrations.js';
import { RedisStore } from '../src/store/redis/index.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { sleep, tempStorePath, waitFor } from './helpers.js';
import { dropPrefix, redisUrl, requireRedis, testPrefix } from './redis.js';
import { backends, dropPrefixes } from './store-backends.js';

const reply = (text: string): OutgoingMessage => ({ to: { botId: 'tg', channelId: '42' }, content: [{ type: 'text', text }] });
const opened: Store[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

const prefixes: string[] = [];
beforeAll(() => requireRedis());
afterAll(async () => {
  for (const prefix of prefixes) await dropPrefix(prefix);
  await dropPrefixes();
});

describe.each(backends)('%s store', (_name, backend) => {
  const fresh = async (clock = { now: Date.now() }) => {
    const store = await backend.open(backend.place(), () => clock.now);
    opened.push(store);
    return store;
  };
  const ttl = backend.ttl;

  it('admits an event once per dedup key until the key expires; events without a key are always new', async () => {
    const clock = { now: 1000 };
    const store = await fresh(clock);
    expect(await store.inbox.admit({ id: 'e1', botId: 'tg', key: '7', journal: { n: 1 } }, ttl)).toBe(true);
    expect(await store.inbox.admit({ id: 'e2', botId: 'tg', key: '7', journal: { n: 2 } }, ttl)).toBe(false);
    expect(await store.inbox.admit({ id: 'e3', botId: 'other', key: '7', journal: { n: 3 } }, ttl)).toBe(true); // keys are per bot
    expect(await store.inbox.admit({ id: 'e4', botId: 'tg', journal: {} }, ttl)).toBe(true);
    expect(await store.inbox.admit({ id: 'e5', botId: 'tg', journal: {} }, ttl)).toBe(true);
    await backend.pass(clock, ttl + 50);
    expect(await store.inbox.admit({ id: 'e6', botId: 'tg', key: '7', journal: { n: 6 } }, ttl)).toBe(true);
    expect((await store.inbox.unfinished()).map((e) => e.id)).toEqual(['e1', 'e3', 'e4', 'e5', 'e6']);
  });

  it('keeps the journal of unfinished events in admission order, and forgets an event and its delivered replies when it finishes', async () => {
    const store = await fresh();
    for (const id of ['a', 'b', 'c']) await store.inbox.admit({ id, botId: 'tg', key: id, journal: { stage: 'received' } }, 60_000);
    await store.inbox.update('b', { stage: 'delivering', bytes: new Uint8Array([1, 2, 255]) });
    await store.outbox.add([
      { key: 'b:0', eventId: 'b', index: 0, message: reply('one') },
      { key: 'b:1', eventId: 'b', index: 1, message: reply('two') },
    ]);
    await store.outbox.delivered('b:0', ['m1']);
    await store.outbox.dead('b:1', [], 'chat not found');
    const unfinished = await store.inbox.unfinished();
    expect(unfinished.map((e) => [e.id, e.botId, e.key])).toEqual([['a', 'tg', 'a'], ['b', 'tg', 'b'], ['c', 'tg', 'c']]);
    expect(unfinished[1]!.journal).toEqual({ stage: 'delivering', bytes: new Uint8Array([1, 2, 255]) });
    await store.inbox.finish('b');
    expect((await store.inbox.unfinished()).map((e) => e.id)).toEqual(['a', 'c']);
    // The delivered item is gone with its event; the dead letter stays for an operator.
    expect(await store.outbox.get('b:0')).toBeUndefined();
    expect((await store.outbox.list('dead')).map((r) => [r.key, r.error, r.message.content])).toEqual([['b:1', 'chat not found', [{ type: 'text', text: 'two' }]]]);
  });

  it('finishes an event together with its reply delivered just now: that one, the delivered ones and the event go in one write; dead letters and other events stay', async () => {
    const store = await fresh();
    for (const id of ['a', 'b']) await store.inbox.admit({ id, botId: 'tg', key: id, journal: { stage: 'delivering' } }, 60_000);
    await store.outbox.add([
      { key: 'a:0', eventId: 'a', index: 0, message: reply('one') },
      { key: 'a:1', eventId: 'a', index: 1, message: reply('two') },
      { key: 'a:2', eventId: 'a', index: 2, message: reply('three') },
      { key: 'b:0', eventId: 'b', index: 0, message: reply('other') },
    ]);
    await store.outbox.delivered('a:0', ['m1']);
    await store.outbox.dead('a:1', [], 'chat not found');
    await store.inbox.finish('a', { replies: true, delivered: 'a:2' });
    expect((await store.inbox.unfinished()).map((e) => e.id)).toEqual(['b']);
    for (const key of ['a:0', 'a:2']) expect(await store.outbox.get(key)).toBeUndefined();
    expect((await store.outbox.list('dead')).map((r) => r.key)).toEqual(['a:1']);
    expect((await store.outbox.list('pending')).map((r) => r.key)).toEqual(['b:0']);
    expect(await store.outbox.list('delivered')).toEqual([]);
  });

  it('gives one unfinished event by its id, with its latest journal, and nothing once it is finished', async () => {
    const store = await fresh();
    await store.inbox.admit({ id: 'a', botId: 'tg', key: 'k1', journal: { stage: 'received' } }, 60_000);
    await store.inbox.admit({ id: 'b', botId: 'vk', journal: { stage: 'event' } }, 60_000);
    await store.inbox.update('b', { stage: 'event', bytes: new Uint8Array([7]) });
    const [a, b] = await Promise.all([store.inbox.get('a'), store.inbox.get('b')]);
    expect(a).toMatchObject({ id: 'a', botId: 'tg', key: 'k1', journal: { stage: 'received' } });
    expect(b).toMatchObject({ id: 'b', botId: 'vk', journal: { stage: 'event', bytes: new Uint8Array([7]) } });
    expect(b!.key).toBeUndefined();
    expect(a!.seq).toBeLessThan(b!.seq);
    await store.inbox.finish('a');
    expect(await store.inbox.get('a')).toBeUndefined();
    expect(await store.inbox.get('never')).toBeUndefined();
    // Told it recorded no replies, the store still forgets the event.
    await store.inbox.finish('b', { replies: false });
    expect(await store.inbox.get('b')).toBeUndefined();
    expect(await store.inbox.unfinished()).toEqual([]);
  });

  it('names the event a dedup key was taken by, for as long as the key lives', async () => {
    const clock = { now: 0 };
    const store = await fresh(clock);
    await store.inbox.admit({ id: 'first', botId: 'tg', key: '77', journal: {} }, ttl);
    expect(await store.inbox.admit({ id: 'again', botId: 'tg', key: '77', journal: {} }, ttl)).toBe(false);
    expect(await store.inbox.admittedAs('tg', '77')).toBe('first');
    expect(await store.inbox.admittedAs('vk', '77')).toBeUndefined();
    await backend.pass(clock, ttl + 50);
    expect(await store.inbox.admittedAs('tg', '77')).toBeUndefined();
  });

  it('records an item once under its key, with the parts sent so far and the tries, and lets only dead letters be retried or dropped', async () => {
    const store = await fresh();
    await store.outbox.add([{ key: 'e:0', eventId: 'e', index: 0, message: reply('first') }]);
    await store.outbox.add([{ key: 'e:0', eventId: 'e', index: 0, message: reply('changed') }]);
    expect((await store.outbox.get('e:0'))!.message.content).toEqual([{ type: 'text', text: 'first' }]);
    await store.outbox.attempted('e:0', ['p1'], 'HTTP 502');
    expect(await store.outbox.get('e:0')).toMatchObject({ state: 'pending', ids: ['p1'], attempts: 1, error: 'HTTP 502' });
    expect(await store.outbox.retry('e:0')).toBe(false);
    expect(await store.outbox.drop('e:0')).toBe(false);
    await store.outbox.dead('e:0', ['p1'], 'HTTP 400');
    expect(await store.outbox.retry('e:0')).toBe(true);
    expect((await store.outbox.list('retry')).map((r) => r.key)).toEqual(['e:0']);
    await store.outbox.dead('e:0', ['p1'], 'HTTP 400 again');
    expect(await store.outbox.drop('e:0')).toBe(true);
    expect(await store.outbox.get('e:0')).toBeUndefined();
    expect((await store.outbox.ofEvent('e')).length).toBe(0);
  });

  it('claims a key-value key once until it expires, and keeps set values', async () => {
    const clock = { now: 0 };
    const store = await fresh(clock);
    expect(await store.claim('k', ttl)).toBe(true);
    expect(await store.claim('k', ttl)).toBe(false);
    await backend.pass(clock, ttl + 50);
    expect(await store.claim('k', ttl)).toBe(true);
    await store.set('session', { id: 's1', seq: 42 });
    await store.set('short', 'x', ttl);
    expect(await store.get('session')).toEqual({ id: 's1', seq: 42 });
    await backend.pass(clock, ttl + 50);
    expect(await store.get('short')).toBeUndefined();
    await store.delete('session');
    expect(await store.get('session')).toBeUndefined();
  });

  it('grants a lease with a fencing token that grows with every grant, and refuses a write under an older token', async () => {
    const store = await fresh();
    const first = await store.leases.acquire('conn:tg', 'a', 60_000);
    expect(first).toEqual({ granted: true, fence: expect.any(Number) });
    expect(await store.leases.renew('conn:tg', 'a', 60_000)).toBe(true);
    await store.leases.release('conn:tg', 'a');
    const second = await store.leases.acquire('conn:tg', 'b', 60_000);
    if (!first.granted || !second.granted) throw new Error('not granted');
    expect(second.fence).toBeGreaterThan(first.fence);
    expect(await store.leases.setFenced({ lease: 'conn:tg', token: second.fence }, 'offset', 120)).toBe(true);
    expect(await store.leases.setFenced({ lease: 'conn:tg', token: first.fence }, 'offset', 100)).toBe(false);
    expect(await store.get('offset')).toBe(120);
  });

  it('counts the instances announced: one, whatever announces, on a store that serves one process', async () => {
    const store = await fresh();
    expect(await store.leases.announce('a', 60_000)).toBe(1);
    expect(await store.leases.announce('b', 60_000)).toBe(store.shared ? 2 : 1);
  });
  it('wakes the watchers of a topic on notify, not those of other topics, and no one after they stop', async () => {
    const store = await fresh();
    const woken: string[] = [];
    const stopA = await store.watch('a', () => woken.push('a1'));
    const stopA2 = await store.watch('a', () => woken.push('a2'));
    await store.watch('b', () => woken.push('b'));
    const first = new Promise<void>((resolve) => void store.watch('a', resolve));
    await store.notify('a');
    await first;
    await waitFor(() => woken.length === 2);
    expect(woken.sort()).toEqual(['a1', 'a2']);
    stopA();
    stopA2();
    await store.notify('b');
    await waitFor(() => woken.includes('b'));
    expect(woken.sort()).toEqual(['a1', 'a2', 'b']);
  });
});

describe('redis store: instances on one prefix', () => {
  it('hands a signal from one instance to the watchers of another', async () => {
    const prefix = testPrefix('signals');
    prefixes.push(prefix);
    const [a, b] = await Promise.all([RedisStore.open({ url: redisUrl, prefix }), RedisStore.open({ url: redisUrl, prefix })]);
    opened.push(a, b);
    expect(b.shared).toBe(true);
    let wakes = 0;
    const stop = await b.watch('msg:1', () => wakes++);
    await a.notify('msg:1');
    await waitFor(() => wakes === 1, 3000, 'the signal on the other instance');
    stop();
    await a.set('k', { from: 'a' });
    expect(await b.get('k')).toEqual({ from: 'a' });
  });

  it('wakes every watcher once after its subscription was cut (a signal may have been lost), and carries signals again', async () => {
    const prefix = testPrefix('resubscribe');
    prefixes.push(prefix);
    const [a, b] = await Promise.all([RedisStore.open({ url: redisUrl, prefix }), RedisStore.open({ url: redisUrl, prefix })]);
    opened.push(a, b);
    let wakes = 0;
    await b.watch('topic', () => wakes++);
    const admin = new Redis(redisUrl);
    try {
      const clients = (await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
      const ours = clients.split('\n').filter((line) => line.includes(` name=${prefix}signals `));
      expect(ours).toHaveLength(1);
      await admin.call('CLIENT', 'KILL', 'ID', /\bid=(\d+)/.exec(ours[0]!)![1]!);
    } finally {
      admin.disconnect();
    }
    await waitFor(() => wakes === 1, 5000, 'the wake after the reconnect');
    await a.notify('topic');
    await waitFor(() => wakes === 2, 3000, 'a signal after the reconnect');
  });
});

describe('redis leases', () => {
  const ttl = 300;
  const open = async () => {
    const prefix = testPrefix('lease');
    prefixes.push(prefix);
    const store = await RedisStore.open({ url: redisUrl, prefix });
    opened.push(store);
    return store;
  };

  it('refuses a second holder until the first lease expires, then grants it with a higher fence; the stale holder can neither renew nor write', async () => {
    const store = await open();
    const a = await store.leases.acquire('conn:tg', 'a', ttl);
    const refused = await store.leases.acquire('conn:tg', 'b', ttl);
    expect(refused.granted).toBe(false);
    if (!a.granted || refused.granted) throw new Error('unexpected grant');
    expect(refused.expiresInMs).toBeGreaterThan(0);
    expect(refused.expiresInMs).toBeLessThanOrEqual(ttl);
    await sleep(ttl + 50);
    const b = await store.leases.acquire('conn:tg', 'b', ttl);
    if (!b.granted) throw new Error('b was refused after the TTL');
    expect(b.fence).toBeGreaterThan(a.fence);
    expect(await store.leases.renew('conn:tg', 'a', ttl)).toBe(false);
    expect(await store.leases.setFenced({ lease: 'conn:tg', token: a.fence }, 'offset', 1)).toBe(false);
    expect(await store.leases.setFenced({ lease: 'conn:tg', token: b.fence }, 'offset', 2)).toBe(true);
    expect(await store.get('offset')).toBe(2);
  });

  it('keeps a renewed lease past its first TTL, frees it for another on release, and ignores a release by one who does not hold it', async () => {
    const store = await open();
    expect((await store.leases.acquire('conn:qq', 'a', ttl)).granted).toBe(true);
    // Renewed for far longer than the wait below, so a slow machine cannot let it run out meanwhile.
    expect(await store.leases.renew('conn:qq', 'a', ttl * 30)).toBe(true);
    await sleep(ttl + 50); // past the first TTL: only the renewal keeps it
    expect((await store.leases.acquire('conn:qq', 'b', ttl)).granted).toBe(false);
    await store.leases.release('conn:qq', 'b');
    expect((await store.leases.acquire('conn:qq', 'b', ttl)).granted).toBe(false);
    await store.leases.release('conn:qq', 'a');
    expect((await store.leases.acquire('conn:qq', 'b', ttl)).granted).toBe(true);
    expect(await store.redis.get(store.key('lease:conn:qq'))).toBe('b');
  });

  it('counts the instances announced and not yet run out, and drops one that withdraws at once', async () => {
    const store = await open();
    expect(await store.leases.announce('a', ttl)).toBe(1);
    expect(await store.leases.announce('b', ttl * 10)).toBe(2);
    expect(await store.leases.announce('a', ttl)).toBe(2); // a renewed, not counted twice
    await sleep(ttl + 50);
    expect(await store.leases.announce('c', ttl)).toBe(2); // a ran out; b and c
    await store.leases.withdraw('b');
    expect(await store.leases.announce('c', ttl)).toBe(1);
  });
});

describe('sqlite store file', () => {
  it('keeps everything across a reopen: dedup keys, unfinished events, the outbox', async () => {
    const path = tempStorePath();
    const first = SqliteStore.open({ path });
    await first.inbox.admit({ id: 'e1', botId: 'tg', key: '1', journal: { stage: 'received' } }, 60_000);
    await first.outbox.add([{ key: 'e1:0', eventId: 'e1', index: 0, message: reply('hi') }]);
    await first.close();
    const second = SqliteStore.open({ path });
    opened.push(second);
    expect(await second.inbox.admit({ id: 'e2', botId: 'tg', key: '1', journal: {} }, 60_000)).toBe(false);
    expect((await second.inbox.unfinished()).map((e) => e.id)).toEqual(['e1']);
    expect((await second.outbox.ofEvent('e1')).map((r) => r.state)).toEqual(['pending']);
  });

  it('commits the writes of one tick together: every caller of the tick hears back after one commit', async () => {
    const store = SqliteStore.open({ path: tempStorePath() });
    opened.push(store);
    const order: string[] = [];
    const writes = Array.from({ length: 200 }, (_, i) => store.inbox.admit({ id: `e${i}`, botId: 'tg', key: String(i), journal: {} }, 60_000).then(() => order.push(`w${i}`)));
    // Nothing is committed (or resolved) before the tick ends.
    await Promise.resolve();
    expect(order).toEqual([]);
    await Promise.all(writes);
    expect(order).toHaveLength(200);
    expect((await store.inbox.unfinished()).length).toBe(200);
  });

  it("commits at once when a tick's writes reach 256, not only when the tick ends: a gateway's burst of thousands is not kept waiting whole", async () => {
    const path = tempStorePath();
    const store = SqliteStore.open({ path });
    opened.push(store);
    const writes = Array.from({ length: 300 }, (_, i) => store.inbox.admit({ id: `e${i}`, botId: 'tg', key: String(i), journal: {} }, 60_000));
    const reader = new Database(path, { readonly: true });
    try {
      const count = () => (reader.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
      expect(count()).toBe(256);
      await Promise.all(writes);
      expect(count()).toBe(300);
    } finally {
      reader.close();
    }
  });

  it('migrates a new file to the latest schema version, and refuses a file made by a newer version', () => {
    const path = tempStorePath();
    SqliteStore.open({ path }).close();
    const db = new Database(path);
    expect(db.pragma('user_version', { simple: true })).toBe(migrations.length);
    db.pragma(`user_version = ${migrations.length + 1}`);
    db.close();
    expect(() => SqliteStore.open({ path })).toThrow(StoreError);
    expect(() => SqliteStore.open({ path })).toThrow(/made by a newer Switchboard/);
  });

  it('carries a version 1 file over with its replies, listed by state as before; only dead letters and retries are in the state index', async () => {
    const path = tempStorePath();
    const v1 = new Database(path);
    v1.exec(migrations[0]!);
    v1.pragma('user_version = 1');
    const add = v1.prepare(`INSERT INTO outbox (key, event_id, idx, message, state, created, updated) VALUES (?, ?, 0, ?, ?, ?, ?)`);
    const rows: [string, string, number][] = [['p2', 'pending', 30], ['d1', 'dead', 20], ['p1', 'pending', 10], ['r1', 'retry', 5], ['d2', 'dead', 10], ['d0', 'dead', 10], ['ok', 'delivered', 1]];
    for (const [key, state, created] of rows) add.run(key, key, JSON.stringify(reply(key)), state, created, created);
    v1.close();

    const store = SqliteStore.open({ path });
    opened.push(store);
    const keys = async (state: 'pending' | 'dead' | 'retry' | 'delivered', limit?: number) => (await store.outbox.list(state, limit)).map((r) => r.key);
    expect(await keys('pending')).toEqual(['p1', 'p2']);
    expect(await keys('dead')).toEqual(['d0', 'd2', 'd1']);
    expect(await keys('dead', 2)).toEqual(['d0', 'd2']);
    expect(await keys('retry')).toEqual(['r1']);
    expect(await keys('delivered')).toEqual(['ok']);

    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(migrations.length);
      expect(db.prepare(`SELECT count(*) AS n FROM outbox INDEXED BY outbox_state WHERE state IN ('dead', 'retry')`).get()).toEqual({ n: 4 });
      // A pending reply is not in the index: SQLite refuses to use it for one.
      expect(() => db.prepare(`SELECT count(*) FROM outbox INDEXED BY outbox_state WHERE state = 'pending'`).get()).toThrow(/no query solution/);
    } finally {
      db.close();
    }
  });

  it('refuses a garbage or truncated file with an error naming it and how to move it aside', async () => {
    const garbage = tempStorePath();
    writeFileSync(garbage, 'this is not a database, just text that happens to be long enough '.repeat(100));
    expect(() => SqliteStore.open({ path: garbage })).toThrow(new RegExp(`${garbage}.*not a usable SQLite database.*mv ${garbage} ${garbage}\\.broken-`));

    const truncated = tempStorePath();
    const full = SqliteStore.open({ path: truncated });
    for (let i = 0; i < 2000; i++) void full.inbox.admit({ id: `e${i}`, botId: 'tg', key: String(i), journal: { text: 'x'.repeat(200) } }, 60_000);
    await full.close();
    const bytes = readFileSync(truncated);
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 3)));
    expect(() => SqliteStore.open({ path: truncated })).toThrow(/not a usable SQLite database.*Move it aside/);
    // Nothing was changed: the same error the second time, not a new file.
    expect(readFileSync(truncated).length).toBe(Math.floor(bytes.length / 3));
  });
});
