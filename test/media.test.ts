// The /media/<id> route: what a client gets when the platform behind a media URL fails.

import { afterEach, describe, expect, it } from 'vitest';
import { MediaStore } from '../src/media/media.js';
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
