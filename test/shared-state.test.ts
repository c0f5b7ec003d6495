// Two instances on one Redis prefix, each with its own port (and its own key file, as on two
// machines): what one produced, the other serves.

import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { startRuntime } from './helpers.js';
import { dropPrefix, redisUrl, requireRedis, testPrefix } from './redis.js';

const prefixes: string[] = [];
const running: Runtime[] = [];
beforeAll(() => requireRedis());
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
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
    const started = await startRuntime(`store: { type: redis, url: "${redisUrl}", prefix: "${prefix}" }\nplatforms:\n  - ${platform(dir)}\n`, { bot });
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
