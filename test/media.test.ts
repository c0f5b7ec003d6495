// The /media/<id> route: what a client gets when the platform behind a media URL fails.

import { afterEach, describe, expect, it } from 'vitest';
import { MediaHeldElsewhere, MediaStore } from '../src/media/media.js';
import { MemoryStore } from '../src/store/index.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { startRuntime } from './helpers.js';

let runtime: Runtime | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

describe('media URLs', () => {
  it('serves the bytes, answers 404 for an unknown id and 502 (logged) when the platform fails to deliver', async () => {
    const started = await startRuntime('platforms:\n  - { id: sandbox, type: sandbox }');
    runtime = started.runtime;
    const ok = runtime.media.register({ data: new Uint8Array([1, 2, 3]), mime: 'image/png', name: 'p.png' });
    const res = await fetch(ok);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
    expect((await fetch(`${started.url}/media/no-such-id`)).status).toBe(404);
    const broken = runtime.media.register(() => Promise.reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
    const failed = await fetch(broken);
    expect(failed.status).toBe(502);
    expect(await failed.json()).toEqual({ error: 'the platform did not deliver this media; try again later' });
    expect(started.logs.find((l) => l.msg === 'could not fetch media from its platform')).toMatchObject({ err: 'socket hang up' });
  });
});

describe('the media store', () => {
  const body = (n: number) => ({ data: new Uint8Array(n), mime: 'application/octet-stream' });

  it('fetches from the platform once for requests that arrive together, then serves from memory', async () => {
    const store = new MediaStore();
    let fetches = 0;
    const url = store.register(async () => {
      fetches++;
      await new Promise((r) => setTimeout(r, 20));
      return body(10);
    });
    const [a, b] = await Promise.all([store.load(url), store.load(url)]);
    expect(a!.data.byteLength).toBe(10);
    expect(b).toBe(a);
    await store.load(url);
    expect(fetches).toBe(1);
  });

  it('keeps fetched bytes within its memory budget, fetching again what it let go, and never drops bytes a bot made', async () => {
    const store = new MediaStore({ maxCachedBytes: 25 });
    let fetches = 0;
    const fetched = [1, 2, 3].map(() => store.register(async () => (fetches++, body(10))));
    const made = store.register(body(40));
    for (const url of fetched) await store.load(url);
    expect(fetches).toBe(3);
    // The budget holds two fetched bodies: the oldest was let go and is fetched again.
    await store.load(fetched[2]!);
    expect(fetches).toBe(3);
    await store.load(fetched[0]!);
    expect(fetches).toBe(4);
    expect((await store.load(made))!.data.byteLength).toBe(40);
  });
});

describe('media stores sharing a registry', () => {
  it('serves small bytes and platform files registered by the other; anything else is held by the one that made it', async () => {
    const registry = new MemoryStore();
    const [a, b] = [new MediaStore({ sharedMaxBytes: 8 }, registry), new MediaStore({ sharedMaxBytes: 8 }, registry)];
    const fetchedBy: string[] = [];
    for (const [name, store] of [['a', a], ['b', b]] as const) store.fetcher('tg', async (origin) => (fetchedBy.push(name), { data: new Uint8Array([9]), mime: origin.mime ?? '?', name: origin.ref }));
    const small = a.register({ data: new Uint8Array([1, 2]), mime: 'image/png' });
    const file = a.registerFetched({ botId: 'tg', ref: 'file-1', mime: 'image/jpeg' });
    const large = a.register({ data: new Uint8Array(9), mime: 'video/mp4' });
    const unowned = a.register(async () => ({ data: new Uint8Array(1), mime: 'text/plain' }), { botId: 'other', ref: 'x' });
    const id = (url: string) => url.slice(url.lastIndexOf('/') + 1);
    expect((await b.load(id(small)))!.data).toEqual(new Uint8Array([1, 2]));
    expect(await b.load(id(file))).toEqual({ data: new Uint8Array([9]), mime: 'image/jpeg', name: 'file-1' });
    expect(fetchedBy).toEqual(['b']);
    await expect(b.load(id(large))).rejects.toBeInstanceOf(MediaHeldElsewhere);
    await expect(b.load(id(unowned))).rejects.toBeInstanceOf(MediaHeldElsewhere);
    expect((await a.load(id(large)))!.data.byteLength).toBe(9);
    expect(await b.load('no-such-id')).toBeUndefined();
  });
});
