// The /media/<id> route: what a client gets when the platform behind a media URL fails.

import { afterEach, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/runtime.js';
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
