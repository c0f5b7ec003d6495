// Two instances on one Redis prefix, each with its own port (and its own key file, as on two
// machines): what one produced, the other serves.

import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { startRuntime, waitFor } from './helpers.js';
import { dropPrefix, redisUrl, requireRedis, testPrefix } from './redis.js';

const prefixes: string[] = [];
const running: Runtime[] = [];
let fake: FakeTelegram | undefined;
beforeAll(() => requireRedis());
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
  await fake?.stop();
  fake = undefined;
});
afterAll(async () => {
  for (const prefix of prefixes) await dropPrefix(prefix);
});

/** Two runtimes on one fresh prefix. */
async function pair(platform: (dir: string) => string, bot?: Bot) {
  const prefix = testPrefix('shared');
  prefixes.push(prefix);
  const start = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-shared-'));
    // Behind one reverse proxy, as in a deployment: one public URL for both.
    const started = await startRuntime(`server: { port: 0, publicUrl: "https://bot.example.test" }\nstore: { type: redis, url: "${redisUrl}", prefix: "${prefix}" }\nplatforms:\n  - ${platform(dir)}\n`, { bot });
    running.push(started.runtime);
    return { ...started, dir };
  };
  return Promise.all([start(), start()]);
}

const KEY = 'shared-key-0123456789';
const text = (query: string, extra: Record<string, unknown> = {}) => ({ type: 'text', query, sender_id: 'u1', ...extra });

async function post(url: string, body: unknown, key = KEY) {
  const res = await fetch(`${url}/api/plug/v1/chat`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}
const contents = (body: Record<string, any>) => (body.data as { content: string }[]).map((d) => d.content);

describe('http endpoint on two instances', () => {
  it('answers a poll on B with what the bot produced on A, waking a poll that waits on B when A is done; the msg_id is handled once', async () => {
    const handled: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const bot = defineBot((b) =>
      b.on('message', async (ctx) => {
        handled.push(ctx.message.id);
        await gate;
        await ctx.reply(`done: ${ctx.text}`);
        await ctx.reply('and more');
      }),
    );
    const [a, b] = await pair((dir) => `{ id: api, type: http, apiKey: "${KEY}", keyFile: "${dir}/key.json" }`, bot);
    expect(await post(a.url, text('job', { msg_id: 'm1', wait: 0 }))).toMatchObject({ status: 200, body: { msg_id: 'm1', data: [] } });
    const started = performance.now();
    const waiting = post(b.url, text('job', { msg_id: 'm1', wait: 30 }));
    release();
    const polled = await waiting;
    expect(polled.status).toBe(200);
    expect(contents(polled.body)).toEqual(['done: job', 'and more']);
    expect(performance.now() - started).toBeLessThan(10_000); // woken, not the 30 s wait
    // The same set, with the same item ids, from either instance.
    expect((await post(a.url, text('job', { msg_id: 'm1' }))).body.data).toEqual(polled.body.data);
    expect(handled).toEqual(['m1']);
  });

  it('handles a msg_id sent to both at once once, and answers both requests with its replies', async () => {
    const handled: string[] = [];
    const bot = defineBot((b) => b.on('message', (ctx) => (handled.push(ctx.message.id), ctx.reply(`seen ${ctx.text}`))));
    const [a, b] = await pair((dir) => `{ id: api, type: http, apiKey: "${KEY}", keyFile: "${dir}/key.json" }`, bot);
    const both = await Promise.all([post(a.url, text('twice', { msg_id: 'same', wait: 10 })), post(b.url, text('twice', { msg_id: 'same', wait: 10 }))]);
    expect(both.map((r) => contents(r.body))).toEqual([['seen twice'], ['seen twice']]);
    expect(handled).toEqual(['same']);
  });

  it('generates one API key for both, and a key refreshed on A is accepted on B (the old one for the grace period)', async () => {
    const [a, b] = await pair((dir) => `{ id: api, type: http, apiKey: "", keyFile: "${dir}/key.json", apiKeyGrace: 1h }`);
    const keyOf = async (dir: string) => (JSON.parse(await readFile(join(dir, 'key.json'), 'utf8')) as { key: string }).key;
    const key = await keyOf(a.dir);
    expect(await keyOf(b.dir)).toBe(key);
    expect((await post(a.url, text('/ping'), key)).status).toBe(200);
    expect((await post(b.url, text('/ping'), key)).status).toBe(200);
    const refreshed = await fetch(`${a.url}/api/plug/hep/refresh_token`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
    const fresh = ((await refreshed.json()) as { api_key: string }).api_key;
    expect(fresh).toMatch(/^sbk_/);
    expect((await post(b.url, text('/ping'), fresh)).status).toBe(200);
    expect((await post(b.url, text('/ping'), key)).status).toBe(200);
    expect((await post(b.url, text('/ping'), 'sbk_not-a-key')).status).toBe(401);
  });
});

/** POSTs with `stream: true` and reads the server-sent events as they come: the deltas' text so far, and the done event. */
function stream(url: string, body: Record<string, unknown>) {
  const deltas: { item_id: string; text: string }[] = [];
  const done = (async () => {
    const res = await fetch(`${url}/api/plug/v1/chat`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify({ ...body, stream: true }) });
    let buffered = '';
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffered += value;
      for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
        const frame = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event === 'delta') deltas.push(JSON.parse(data!));
        if (event === 'done') return JSON.parse(data!) as { data: { item_id: string; content: string }[] };
      }
    }
    throw new Error('the stream ended without done');
  })();
  return { done, text: () => deltas.map((d) => d.text).join(''), deltas };
}

describe('http endpoint streaming across instances', () => {
  it('sends the deltas of an answer growing on the worker instance to the client whose stream is open on the ingress instance', async () => {
    const prefix = testPrefix('shared');
    prefixes.push(prefix);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const handledOn: string[] = [];
    const bot = (name: string) =>
      defineBot((b) =>
        b.command('talk', async function* () {
          handledOn.push(name);
          yield 'Once';
          await gate;
          yield ' upon a';
          yield ' time';
        }),
      );
    const start = async (role: 'ingress' | 'worker') => {
      const dir = await mkdtemp(join(tmpdir(), 'sb-shared-'));
      const started = await startRuntime(`server: { port: 0 }\nstore: { type: redis, url: "${redisUrl}", prefix: "${prefix}" }\nplatforms:\n  - { id: api, type: http, apiKey: "${KEY}", keyFile: "${dir}/key.json" }\n`, { bot: bot(role), role });
      running.push(started.runtime);
      return started;
    };
    const [ingress] = await Promise.all([start('ingress'), start('worker')]);
    const sse = stream(ingress.url, text('/talk', { msg_id: 's1', wait: 20 }));
    // The worker holds the rest until the first words reached the client on the other instance.
    await waitFor(() => sse.text() === 'Once', 10_000, 'the first delta, from the worker instance');
    release();
    const done = await sse.done;
    expect(handledOn).toEqual(['worker']);
    expect(sse.text()).toBe('Once upon a time');
    expect(done.data.map((d) => d.content)).toEqual(['Once upon a time']);
    expect(new Set(sse.deltas.map((d) => d.item_id))).toEqual(new Set([done.data[0]!.item_id]));
  });
});

describe('media URLs on two instances', () => {
  it('serves bytes a bot made on A from B; bytes too large to share answer 503 on B, saying where they are', async () => {
    const [a, b] = await pair(() => '{ id: sandbox, type: sandbox }');
    const small = new Uint8Array([1, 2, 3, 4]);
    const url = a.runtime.media.register({ data: small, mime: 'image/png', name: 'dot.png' });
    const id = url.slice(url.lastIndexOf('/') + 1);
    const fromB = await fetch(`${b.url}/media/${id}`);
    expect(fromB.status).toBe(200);
    expect(fromB.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await fromB.arrayBuffer())).toEqual(small);
    const large = a.runtime.media.register({ data: new Uint8Array(2 * 1024 * 1024), mime: 'video/mp4' });
    const largeId = large.slice(large.lastIndexOf('/') + 1);
    const elsewhere = await waitFor(async () => {
      const res = await fetch(`${b.url}/media/${largeId}`);
      return res.status === 404 ? undefined : res;
    });
    expect(elsewhere.status).toBe(503);
    expect(elsewhere.headers.get('retry-after')).toBeTruthy();
    expect(((await elsewhere.json()) as { error: string }).error).toMatch(/held by the instance that made it/);
    expect((await fetch(`${a.url}/media/${largeId}`)).status).toBe(200);
    expect((await fetch(`${b.url}/media/no-such-id`)).status).toBe(404);
  });

  it('fetches a platform file from the platform on B when the message came in on A, and reuses its file_id when B sends it', async () => {
    fake = new FakeTelegram();
    await fake.start();
    const f = fake;
    const photo = Buffer.from('a photo from telegram');
    f.addFile('photo-id', photo, 'photos/p.jpg');
    let imageUrl = '';
    const bot = defineBot((b) =>
      b.on('message', (ctx) => {
        const image = ctx.message.content.find((s) => s.type === 'image');
        if (image && 'url' in image) imageUrl = image.url!;
      }),
    );
    const [a, b] = await pair(() => `{ id: tg, type: telegram, token: "${f.token}", apiRoot: "${f.url}", mode: webhook, secretToken: s3cret }`, bot);
    const update = { update_id: 7, message: { message_id: 1, date: 1, chat: { id: 42, type: 'private' }, from: { id: 42, is_bot: false, first_name: 'Al' }, photo: [{ file_id: 'photo-id', file_unique_id: 'u', width: 9, height: 9 }] } };
    const res = await fetch(`${a.url}/webhooks/tg`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 's3cret' }, body: JSON.stringify(update) });
    expect(res.status).toBe(200);
    await waitFor(() => imageUrl !== '', 3000, 'the message on A');
    expect(imageUrl.startsWith('https://bot.example.test/media/')).toBe(true);
    // B sending it on reuses Telegram's file_id: nothing downloaded, nothing uploaded.
    const sent = await b.runtime.adapters.get('tg')!.send({ to: { botId: 'tg', channelId: '42' }, content: [{ type: 'image', url: imageUrl }] });
    expect(sent.ok).toBe(true);
    expect(f.sent().map((c) => [c.method, c.params.photo])).toEqual([['sendPhoto', 'photo-id']]);
    expect(f.calls.filter((c) => c.method === 'getFile')).toHaveLength(0);
    const fromB = await fetch(`${b.url}${new URL(imageUrl).pathname}`);
    expect(fromB.status).toBe(200);
    expect(Buffer.from(await fromB.arrayBuffer()).equals(photo)).toBe(true);
    expect(f.calls.filter((c) => c.method === 'getFile')).toHaveLength(1);
  });
});

describe('pacing on two instances', () => {
  it("keeps a chat's limit across both: replies from A and B reach the platform no faster than the limit allows", async () => {
    fake = new FakeTelegram();
    await fake.start();
    const f = fake;
    const [a, b] = await pair(() => `{ id: tg, type: telegram, token: "${f.token}", apiRoot: "${f.url}", mode: webhook, secretToken: s3cret, limits: { chat: { count: 1, per: 200ms } } }`);
    const post = (url: string, n: number) =>
      fetch(`${url}/webhooks/tg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 's3cret' },
        body: JSON.stringify({ update_id: n, message: { message_id: n, date: 1, chat: { id: 42, type: 'private' }, from: { id: 42, is_bot: false, first_name: 'Al' }, text: `m${n}` } }),
      });
    const answers = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => post(n % 2 ? a.url : b.url, n)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    await waitFor(() => f.sent().length === 6, 5000, 'six replies');
    const at = f.sent().map((c) => c.at);
    // One chat, one send per 200 ms between them: six sends span at least 5 × 200 ms (less the first send's own way there).
    expect(at.at(-1)! - at[0]!).toBeGreaterThanOrEqual(900);
    expect(new Set(f.sent().map((c) => c.params.text))).toEqual(new Set(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']));
  });
});
