import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { render } from '../adapters/http/render.js';
import { CallbackServer } from './fakes/callback-server.js';
import { sleep, startRuntime, tempStorePath, waitFor } from './helpers.js';

const KEY = 'test-key-0123456789';
const secret = `whsec_${Buffer.from('fedcba9876543210fedcba9876543210').toString('base64')}`;

let runtime: Runtime | undefined;
let hooks: CallbackServer | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await runtime?.stop();
  await hooks?.stop();
  runtime = hooks = undefined;
});

async function endpoint(extra = '', options: { bot?: Bot; apiKey?: string; yaml?: string; /** A restart: the same store file and key file. */ storePath?: string; dir?: string } = {}) {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'sb-http-')));
  const apiKey = options.apiKey ?? KEY;
  const started = await startRuntime(`platforms:\n  - { id: api, type: http, apiKey: "${apiKey}", keyFile: "${dir}/key.json"${extra} }\n${options.yaml ?? ''}`, { bot: options.bot, storePath: options.storePath });
  runtime = started.runtime;
  const call = async (body: unknown, key: string | null = KEY, path = '/api/plug/v1/chat') => {
    const res = await fetch(`${started.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const refresh = async (key: string, method = 'POST') => {
    const res = await fetch(`${started.url}/api/plug/hep/refresh_token`, { method, headers: { authorization: `Bearer ${key}` } });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  return { ...started, call, refresh, dir };
}

const text = (query: string, extra: Record<string, unknown> = {}) => ({ type: 'text', query, sender_id: 'u1', sender_nickname: 'Una', ...extra });

describe('http endpoint: auth', () => {
  it('answers a missing, wrong or expired key with 401 and a JSON error', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { call } = await endpoint(', apiKeyTtl: 1h');
    expect(await call(text('/ping'), null)).toEqual({ status: 401, body: { code: 401, detail: 'missing "Authorization: Bearer <api key>" header' } });
    expect(await call(text('/ping'), 'nope')).toEqual({ status: 401, body: { code: 401, detail: 'wrong api key' } });
    const ok = await call(text('/ping'));
    expect(ok.status).toBe(200);
    expect(ok.body.api_key_ttl).toBeGreaterThan(3590);
    vi.setSystemTime(Date.now() + 2 * 3_600_000);
    expect(await call(text('/ping'))).toEqual({ status: 401, body: { code: 401, detail: 'api key has expired; ask the operator for a new one' } });
  });

  it('refreshes a live key; the old one works for the grace period only; an expired key cannot refresh', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { call, refresh } = await endpoint(', apiKeyTtl: 1h, apiKeyGrace: 30s');
    const fresh = await refresh(KEY, 'GET');
    expect(fresh.status).toBe(200);
    expect(fresh.body).toMatchObject({ code: 0, detail: 'success', api_key: expect.stringMatching(/^sbk_/), api_key_ttl: 3600 });
    const newKey = fresh.body.api_key as string;
    expect((await call(text('/ping'), newKey)).status).toBe(200);
    expect((await call(text('/ping'), KEY)).status).toBe(200);
    vi.setSystemTime(Date.now() + 31_000);
    expect((await call(text('/ping'), KEY)).status).toBe(401);
    expect((await call(text('/ping'), newKey)).status).toBe(200);
    vi.setSystemTime(Date.now() + 2 * 3_600_000);
    expect(await refresh(newKey)).toEqual({ status: 401, body: { code: 401, detail: 'api key has expired; ask the operator for a new one' } });
  });

  it('generates a key at first start, keeps it in a 0600 file and logs only where it is', async () => {
    const { logs, dir, call } = await endpoint('', { apiKey: '' });
    const saved = JSON.parse(await readFile(join(dir, 'key.json'), 'utf8')) as { key: string };
    expect(saved.key).toMatch(/^sbk_/);
    expect((await stat(join(dir, 'key.json'))).mode & 0o777).toBe(0o600);
    const line = logs.find((l) => l.msg.startsWith('generated an API key'))!;
    expect(line.keyFile).toBe(join(dir, 'key.json'));
    expect(JSON.stringify(logs)).not.toContain(saved.key);
    expect((await call(text('/ping'), saved.key)).status).toBe(200);
  });
});

describe('http endpoint: poll mode', () => {
  it('answers text in the same response with stable item ids, and repeats the full set on a re-poll', async () => {
    const { call } = await endpoint();
    const first = await call(text('/echo hello there', { msg_id: 'm1' }));
    expect(first).toEqual({ status: 200, body: { code: 0, detail: 'success', msg_id: 'm1', api_key_ttl: expect.any(Number), data: [{ item_id: expect.stringMatching(/^[A-Za-z0-9]{12}$/), type: 'text', content: 'hello there' }] } });
    const again = await call(text('/echo hello there', { msg_id: 'm1' }));
    expect(again.body.data).toEqual(first.body.data);
  });

  it('hands an image URL to the bot untouched and echoes it; a data URL round-trips as a data URL', async () => {
    let fetched = false;
    const bot = defineBot((b) =>
      b.on('message', (ctx) => {
        const image = ctx.message.content.find((s) => s.type === 'image');
        fetched = image !== undefined && 'data' in image && image.data !== undefined;
        ctx.reply(ctx.message.content);
      }),
    );
    const { call } = await endpoint('', { bot });
    const url = await call({ type: 'image', url: 'https://example.com/cat.png', sender_id: 'u1' });
    expect(url.body.data).toEqual([{ item_id: expect.any(String), type: 'image', content: 'https://example.com/cat.png' }]);
    const dataUrl = `data:image/png;base64,${Buffer.from('png!').toString('base64')}`;
    expect(fetched).toBe(false);
    const inline = await call({ type: 'image', url: dataUrl, sender_id: 'u1' });
    expect(inline.body.data).toEqual([{ item_id: expect.any(String), type: 'image', content: dataUrl }]);
  });

  it('includes what the bot sent the sender on its own, and keeps group chats apart', async () => {
    const { call } = await endpoint();
    await runtime!.adapters.get('api')!.send({ to: { botId: 'api', channelId: 'user:u1' }, content: [{ type: 'text', text: 'news flash' }] });
    const res = await call(text('/ping', { msg_id: 'm2' }));
    expect(res.body.data.map((d: { content: string }) => d.content)).toEqual(['pong', 'news flash']);
    const group = await call(text('/ping', { msg_id: 'g1', chat_id: 'room', group: true }));
    expect(group.body.data.map((d: { content: string }) => d.content)).toEqual(['pong']);
  });

  it('long-polls with wait, and answers at once with what it has when wait is 0', async () => {
    const bot = defineBot((b) =>
      b.on('message', async (ctx) => {
        await sleep(300);
        ctx.reply('slow answer');
      }),
    );
    const { call } = await endpoint('', { bot });
    const early = await call(text('hi', { msg_id: 's1', wait: 0 }));
    expect(early.body.data).toEqual([]);
    const later = await call(text('hi', { msg_id: 's1', wait: 5 }));
    expect(later.body.data.map((d: { content: string }) => d.content)).toEqual(['slow answer']);
  });

  it('bounds the cache by size and TTL: an evicted or expired msg_id answers empty, not 500', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { call } = await endpoint(', cacheSize: 2, cacheTtl: 60s');
    await call(text('/ping', { msg_id: 'a' }));
    await call(text('/ping', { msg_id: 'b' }));
    await call(text('/ping', { msg_id: 'c' }));
    expect((await call(text('/ping', { msg_id: 'a' }))).body).toMatchObject({ code: 0, msg_id: 'a', data: [] });
    expect((await call(text('/ping', { msg_id: 'c' }))).body.data).toHaveLength(1);
    vi.setSystemTime(Date.now() + 61_000);
    expect((await call(text('/ping', { msg_id: 'c' }))).body.data).toEqual([]);
  });

  it('answers bad input with 400 naming the field', async () => {
    const { call } = await endpoint();
    expect(await call('{"type": ')).toEqual({ status: 400, body: { error: 'request body is not valid JSON' } });
    expect(await call({ type: 'text', query: 'hi' })).toEqual({ status: 400, body: { code: 400, detail: 'sender_id: Invalid input: expected string, received undefined' } });
    expect(await call({ type: 'video', sender_id: 'u' })).toMatchObject({ status: 400, body: { detail: expect.stringMatching(/^type: /) } });
    expect(await call({ type: 'text', sender_id: 'u' })).toEqual({ status: 400, body: { code: 400, detail: 'query: required for type text' } });
    expect(await call({ type: 'image', url: 'ftp://x/y.png', sender_id: 'u' })).toMatchObject({ status: 400, body: { detail: expect.stringMatching(/^url: expected an http\(s\) URL/) } });
    expect(await call({ type: 'text', query: 'x', sender_id: 'u', wait: 'long' })).toMatchObject({ status: 400, body: { detail: expect.stringMatching(/^wait: /) } });
  });
});

describe('http endpoint: callback mode', () => {
  it('POSTs each reply, signed, retrying a server that fails twice, and never delivers it twice', async () => {
    hooks = await new CallbackServer().start();
    let calls = 0;
    hooks.on('hep', (ctx) => {
      ctx.status = ++calls <= 2 ? 500 : 200;
    });
    const { call } = await endpoint(`, mode: callback, callbackUrl: "${hooks.url}/hep", callbackSecret: "${secret}", callbackRetryDelay: 20ms`);
    const res = await call(text('/echo via callback', { msg_id: 'cb1' }));
    expect(res.body).toMatchObject({ code: 0, msg_id: 'cb1', data: [] });
    await waitFor(() => calls === 3);
    await sleep(200);
    expect(hooks.received).toHaveLength(3);
    const delivered = hooks.received[2]!;
    expect(new Webhook(secret).verify(delivered.raw, delivered.headers)).toEqual({ msg_id: 'cb1', data: [{ item_id: expect.any(String), type: 'text', content: 'via callback' }] });
    expect(new Set(hooks.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
  });

  it('gives up on a callback that always fails after callbackRetries, and keeps it as a dead letter without retrying it again', async () => {
    hooks = await new CallbackServer().start();
    hooks.on('hep', (ctx) => void (ctx.status = 503));
    const { call, logs } = await endpoint(`, mode: callback, callbackUrl: "${hooks.url}/hep", callbackRetries: 2, callbackRetryDelay: 10ms`);
    await call(text('/ping', { msg_id: 'dead' }));
    const failure = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
    expect(failure).toMatchObject({ deadLetter: true, err: 'callback for msg_id dead: HTTP 503' });
    expect(hooks.received).toHaveLength(3);
    // Final: the core does not add tries of its own on top of the callback's.
    expect((await runtime!.store.outbox.list('dead')).map((d) => d.error)).toEqual([failure.err]);
    expect(await runtime!.store.outbox.list('pending')).toEqual([]);
  });

  it('waits as long as a 429 asks (Retry-After) before the next try; a 4xx is not tried again', async () => {
    hooks = await new CallbackServer().start();
    let calls = 0;
    hooks.on('hep', (ctx, body) => {
      if (body.msg_id === 'bad') return void (ctx.status = 400);
      if (++calls === 1) {
        ctx.status = 429;
        ctx.set('Retry-After', '1');
        return;
      }
      ctx.status = 204;
    });
    const { call, logs } = await endpoint(`, mode: callback, callbackUrl: "${hooks.url}/hep", callbackRetryDelay: 10ms`);
    await call(text('/ping', { msg_id: 'slow' }));
    await waitFor(() => calls === 2, 4000, 'the second try');
    const [limited, accepted] = hooks.received;
    expect(accepted!.at - limited!.at).toBeGreaterThanOrEqual(1000);
    await call(text('/ping', { msg_id: 'bad' }));
    const failure = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'));
    expect(failure.err).toBe('callback for msg_id bad: HTTP 400');
    expect(hooks.received.map((r) => r.body.msg_id)).toEqual(['slow', 'slow', 'bad']);
  });
});

describe('http endpoint: never handled twice', () => {
  const counting = (handled: string[]) =>
    defineBot((b) =>
      b.on('message', (ctx) => {
        handled.push(ctx.message.id);
        return ctx.reply(`seen ${ctx.text}`);
      }),
    );

  it('poll mode: a msg_id handled before a restart answers empty after it, at once, and is not handled again', async () => {
    const handled: string[] = [];
    const storePath = tempStorePath();
    const { call, dir } = await endpoint('', { bot: counting(handled), storePath });
    expect((await call(text('hello', { msg_id: 'r1' }))).body.data.map((d: { content: string }) => d.content)).toEqual(['seen hello']);
    await runtime!.stop();
    const again = await endpoint('', { bot: counting(handled), storePath, dir });
    const started = performance.now();
    const repeat = await again.call(text('hello', { msg_id: 'r1' }));
    expect(repeat).toMatchObject({ status: 200, body: { code: 0, msg_id: 'r1', data: [] } });
    expect((await again.call(text('hello', { msg_id: 'r1' }))).body.data).toEqual([]);
    expect(performance.now() - started).toBeLessThan(5000); // not the 30 s default wait
    expect((await again.call(text('later', { msg_id: 'r2' }))).body.data.map((d: { content: string }) => d.content)).toEqual(['seen later']);
    expect(handled).toEqual(['r1', 'r2']);
  });

  it('callback mode: a msg_id handled before a restart is not handled or called back again after it', async () => {
    hooks = await new CallbackServer().start();
    const handled: string[] = [];
    const storePath = tempStorePath();
    const extra = `, mode: callback, callbackUrl: "${hooks.url}/hep"`;
    const { call, dir } = await endpoint(extra, { bot: counting(handled), storePath });
    await call(text('hello', { msg_id: 'c1' }));
    await waitFor(() => hooks!.received.length === 1, 3000, 'the callback');
    await runtime!.stop();
    const again = await endpoint(extra, { bot: counting(handled), storePath, dir });
    expect(await again.call(text('hello', { msg_id: 'c1' }))).toMatchObject({ status: 200, body: { code: 0, msg_id: 'c1', data: [] } });
    await again.call(text('later', { msg_id: 'c2' }));
    await waitFor(() => hooks!.received.length === 2, 3000, 'the second callback');
    expect(hooks.received.map((r) => [r.body.msg_id, r.body.data[0].content])).toEqual([
      ['c1', 'seen hello'],
      ['c2', 'seen later'],
    ]);
    expect(handled).toEqual(['c1', 'c2']);
  });

  it('answers 503 with Retry-After when the store cannot take a message, and handles the same msg_id when it is sent again', async () => {
    const { call } = await endpoint();
    const { inbox } = runtime!.store;
    const admit = inbox.admit.bind(inbox);
    inbox.admit = () => Promise.reject(new Error('disk I/O error'));
    const res = await fetch(`${runtime!.url}/api/plug/v1/chat`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify(text('/ping', { msg_id: 'x1' })) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    inbox.admit = admit;
    expect((await call(text('/ping', { msg_id: 'x1' }))).body.data.map((d: { content: string }) => d.content)).toEqual(['pong']);
  });
});

describe('http endpoint: item ids', () => {
  it('are made from the reply item\'s stable key, so a repeated try carries the same ids (and webhook-id)', () => {
    const content = [{ type: 'text' as const, text: 'hello' }, { type: 'image' as const, url: 'https://example.com/a.png' }];
    const ids = render(content, 'event-1:0').map((i) => i.item_id);
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9]{12}$/);
    expect(new Set(ids).size).toBe(2);
    expect(render(content, 'event-1:0').map((i) => i.item_id)).toEqual(ids);
    expect(render(content, 'event-1:1').map((i) => i.item_id)).not.toEqual(ids);
    expect(render(content).map((i) => i.item_id)).not.toEqual(render(content).map((i) => i.item_id));
  });
});
