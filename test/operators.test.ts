// What an operator's tooling sees: /healthz (liveness), /readyz (readiness) and /metrics, and
// what the CLI says when its port is taken.

import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import discord, { DiscordAdapter } from '../adapters/discord/index.js';
import echo from '../bots/echo.js';
import { defineAdapter, type AdapterDefinition } from '../src/adapter.js';
import { defineBot } from '../src/bot/bot.js';
import { definitions } from '../src/runtime/registry.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { FakeDiscord, token } from './fakes/discord.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { startRuntime, waitFor } from './helpers.js';
import { OwnRedis } from './redis.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

let runtime: Runtime | undefined;
let fake: FakeDiscord | undefined;
let held: Server | undefined;
let redis: OwnRedis | undefined;
let telegram: FakeTelegram | undefined;
afterEach(async () => {
  redis?.resume(); // a test that failed while Redis was paused
  await runtime?.stop();
  await fake?.stop();
  await telegram?.stop();
  await redis?.kill();
  await new Promise((resolve) => (held ? held.close(resolve) : resolve(undefined)));
  runtime = fake = held = redis = telegram = undefined;
});

const discordFast = defineAdapter({
  ...discord,
  create: (config) => new DiscordAdapter({ ...config, identifyInterval: 0 }, { readyTimeoutMs: 600, stallMs: 10_000, livenessPollMs: 100, maxReconnects: 2 }),
});

const say = (url: string, text: string) =>
  fetch(`${url}/sandbox/sandbox/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { id: 'alice', name: 'Alice' }, chat: { id: 'dm:alice', type: 'direct' }, text }) });

describe('/readyz and /healthz', () => {
  it('is 503 naming a gateway not yet connected, 200 once it is, 503 while shutting down; /healthz is 200 throughout', async () => {
    fake = await new FakeDiscord().start();
    fake.gateway.skipHello = Infinity; // no connection hears a HELLO until the test lets them
    let entered!: () => void;
    const handling = new Promise<void>((resolve) => (entered = resolve));
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const bot = defineBot((b) =>
      b.command('slow', async () => {
        entered();
        await finished;
        return 'done';
      }),
    );
    const started = await startRuntime(`platforms:\n  - { id: dc, type: discord, token: "${token}", apiRoot: "${fake.url}" }\n  - { id: sandbox, type: sandbox }\n`, {
      bot,
      definitions: [...definitions, discordFast as unknown as AdapterDefinition],
    });
    runtime = started.runtime;
    const { url } = started;
    const probe = async (path: string) => {
      const res = await fetch(`${url}${path}`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    const waiting = await probe('/readyz');
    expect(fake.gateway.connected).toBe(false);
    expect(waiting).toEqual({ status: 503, body: { ready: false, status: 'waiting for connections', waiting: [{ id: 'dc', type: 'discord', connection: expect.stringMatching(/^(connecting|retrying)$/), held: true }] } });
    expect((await probe('/healthz')).status).toBe(200);

    fake.gateway.skipHello = 0; // the client's next try connects
    const ready = await waitFor(async () => {
      const answer = await probe('/readyz');
      return answer.status === 200 && answer;
    }, 8000, '/readyz to answer 200');
    expect(ready.body).toEqual({ ready: true, status: 'ready', waiting: [] });
    expect(fake.gateway.connected).toBe(true);

    // A message in flight holds the shutdown open while the probes are asked.
    expect((await say(url, '/slow')).status).toBe(202);
    await handling;
    const stopped = runtime.stop();
    expect(await probe('/readyz')).toEqual({ status: 503, body: { ready: false, status: 'shutting down', waiting: [] } });
    expect((await probe('/healthz')).status).toBe(200);
    const work = await say(url, '/ping');
    expect(work.status).toBe(503);
    expect(work.headers.get('retry-after')).toBe('5');
    finish();
    await stopped;
  }, 20_000);
});

describe('the store on the probes', () => {
  it('while Redis is down: every webhook is answered 503 at once, /healthz and /readyz say why, the gauge reads 0; all of it recovers on its own', async () => {
    const password = 'hunter2-redis';
    redis = await OwnRedis.start(await mkdtemp(join(tmpdir(), 'sb-store-health-')), password);
    telegram = new FakeTelegram();
    await telegram.start();
    const started = await startRuntime(
      `server: { port: 0, retryAfter: 7s }\nstore: { type: redis, url: "${redis.url}", prefix: "health:" }\nplatforms:\n  - { id: tg, type: telegram, token: "${telegram.token}", mode: webhook, secretToken: s3cret, apiRoot: "${telegram.url}" }\n`,
    );
    runtime = started.runtime;
    const { url } = started;
    const probe = async (path: string) => {
      const res = await fetch(`${url}${path}`);
      return { status: res.status, text: await res.text() };
    };
    const health = async () => JSON.parse((await probe('/healthz')).text) as { status: string; store: { description: string; available: boolean } };
    const gauge = async () => /^switchboard_store_available (\d)$/m.exec((await probe('/metrics')).text)?.[1];
    const webhook = (secret: string) =>
      fetch(`${url}/webhooks/tg`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret }, body: JSON.stringify({ update_id: 1, message: { message_id: 1, date: 1, chat: { id: 5, type: 'private' }, text: 'hi' } }) });

    const store = { description: `redis redis://:********@127.0.0.1:${redis.port} (prefix health:)`, available: true };
    expect(await health()).toMatchObject({ status: 'ok', store });
    expect(await gauge()).toBe('1');

    await redis.kill();
    await waitFor(async () => (await health()).store.available === false, 4000, '/healthz to show the store down');
    const down = await probe('/healthz');
    expect(down.status).toBe(200);
    expect(JSON.parse(down.text)).toMatchObject({ status: 'degraded', store: { ...store, available: false } });
    expect(down.text).not.toContain(password);
    expect(await probe('/readyz')).toEqual({ status: 503, text: JSON.stringify({ ready: false, status: 'store unavailable', waiting: [] }) });
    expect(await gauge()).toBe('0');
    for (const secret of ['s3cret', 'not-the-secret']) {
      // Refused before anything is read or verified: a wrong secret gets the same 503, and at once.
      const asked = Date.now();
      const refused = await webhook(secret);
      expect(Date.now() - asked).toBeLessThan(1000);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('7');
      expect(await refused.json()).toEqual({ error: 'the store is unavailable' });
    }
    expect(started.logs.some((l) => l.msg?.startsWith('the store is unavailable') && l.level === 50)).toBe(true);

    await redis.restart();
    await waitFor(async () => (await probe('/readyz')).status === 200, 10_000, '/readyz to answer 200 once Redis is back');
    expect(await health()).toMatchObject({ status: 'ok', store });
    expect(await gauge()).toBe('1');
    expect((await webhook('s3cret')).status).toBe(200);
    await telegram.waitForCall('sendMessage', (c) => c.params.text === 'hi' && c.status === 200, 5000);
  }, 30_000);

  it('while Redis is connected but answers nothing: the webhook waiting on it gets 503 at the command timeout, the next ones at once; afterwards each update is answered once', async () => {
    redis = await OwnRedis.start(await mkdtemp(join(tmpdir(), 'sb-store-hang-')));
    telegram = new FakeTelegram();
    await telegram.start();
    const started = await startRuntime(
      `server: { port: 0, retryAfter: 3s }\nstore: { type: redis, url: "${redis.url}", prefix: "hang:", commandTimeout: 500ms }\nplatforms:\n  - { id: tg, type: telegram, token: "${telegram.token}", mode: webhook, secretToken: s3cret, apiRoot: "${telegram.url}", limits: false }\n`,
    );
    runtime = started.runtime;
    const { url } = started;
    const webhook = (id: number) =>
      fetch(`${url}/webhooks/tg`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 's3cret' }, body: JSON.stringify({ update_id: id, message: { message_id: id, date: 1, chat: { id: 5, type: 'private' }, text: `update ${id}` } }) });
    const timed = async (id: number) => {
      const asked = Date.now();
      const res = await webhook(id);
      return { status: res.status, retryAfter: res.headers.get('retry-after'), ms: Date.now() - asked };
    };
    expect((await timed(1)).status).toBe(200);
    await telegram.waitForCall('sendMessage', (c) => c.params.text === 'update 1' && c.status === 200, 5000);

    redis.pause();
    // Its admission was sent and waits in Redis: refused at the timeout, not left hanging.
    const waited = await timed(2);
    expect(waited).toMatchObject({ status: 503, retryAfter: '3' });
    expect(waited.ms).toBeGreaterThanOrEqual(400);
    expect(waited.ms).toBeLessThan(2500);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    const next = await timed(3);
    expect(next).toMatchObject({ status: 503, retryAfter: '3' });
    expect(next.ms).toBeLessThan(400);

    redis.resume();
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 10_000, '/readyz to answer 200 once Redis answers again');
    // Telegram delivers both again: update 2's admission did land once Redis ran it, so it is not handled twice.
    expect((await timed(2)).status).toBe(200);
    expect((await timed(3)).status).toBe(200);
    for (const text of ['update 2', 'update 3']) await telegram.waitForCall('sendMessage', (c) => c.params.text === text && c.status === 200, 5000);
    expect((await timed(4)).status).toBe(200);
    await telegram.waitForCall('sendMessage', (c) => c.params.text === 'update 4' && c.status === 200, 5000);
    const sent = telegram.calls.filter((c) => c.method === 'sendMessage' && c.status === 200).map((c) => c.params.text);
    expect(sent.sort()).toEqual(['update 1', 'update 2', 'update 3', 'update 4']);
  }, 30_000);
});

/** One Prometheus text-format line: a comment, a blank line, or a sample with a float value. */
const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*,?\})? (-?[0-9.]+(?:e[+-]?\d+)?|NaN|[+-]Inf)( -?\d+)?$/;
const helpLine = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (\S.*)$/;
const typeLine = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/;

/** Reads an exposition strictly: every line valid, every sample in a family declared before it with HELP and TYPE. */
function parseExposition(text: string) {
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const h = helpLine.exec(line);
    const t = typeLine.exec(line);
    if (h) {
      expect(help.has(h[1]!), `HELP twice for ${h[1]}`).toBe(false);
      help.set(h[1]!, h[2]!);
      continue;
    }
    if (t) {
      expect(type.has(t[1]!), `TYPE twice for ${t[1]}`).toBe(false);
      type.set(t[1]!, t[2]!);
      continue;
    }
    const sample = sampleLine.exec(line);
    expect(sample, `not a valid line: ${line}`).not.toBeNull();
    const name = sample![1]!;
    const family = [name, name.replace(/_(bucket|sum|count|total|created)$/, '')].find((n) => type.has(n));
    expect(family, `no TYPE before ${name}`).toBeDefined();
    expect(help.has(family!), `no HELP for ${family}`).toBe(true);
    samples.set(`${name}${sample![2] ?? ''}`, Number(sample![3]));
  }
  return { help, type, samples };
}

describe('/metrics', () => {
  it('is valid Prometheus text with HELP and TYPE on every series: the process, Node.js, and messages and deliveries after one', async () => {
    const started = await startRuntime('platforms: [{ id: sandbox, type: sandbox }]\n', { bot: echo });
    runtime = started.runtime;
    expect((await say(started.url, '/ping')).status).toBe(202);
    const metrics = await waitFor(async () => {
      const text = await (await fetch(`${started.url}/metrics`)).text();
      return text.includes('switchboard_messages_total{') && text;
    }, 4000, 'the message counted');
    const res = await fetch(`${started.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const { help, type, samples } = parseExposition(metrics);
    expect(type.get('process_cpu_seconds_total')).toBe('counter');
    expect(samples.has('process_cpu_seconds_total')).toBe(true);
    expect([...type.keys()].filter((n) => n.startsWith('nodejs_')).length).toBeGreaterThan(5);
    expect(samples.has('nodejs_heap_size_used_bytes')).toBe(true);
    expect(help.get('switchboard_messages_total')).toMatch(/\w/);
    expect(samples.get('switchboard_messages_total{platform="sandbox",bot="sandbox",outcome="answered"}')).toBe(1);
    expect(samples.get('switchboard_deliveries_total{platform="sandbox",outcome="delivered"}')).toBe(1);
    expect(type.get('switchboard_message_seconds')).toBe('histogram');
    expect(samples.get('switchboard_message_seconds_count{platform="sandbox"}')).toBe(1);
  });
});

describe('switchboard start on a taken port', () => {
  it('says which port is taken and how to pick another, with no stack, and exits 1', async () => {
    const server = (held = createServer());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const dir = await mkdtemp(join(tmpdir(), 'sb-port-'));
    const config = join(dir, 'sb.yaml');
    await writeFile(config, `server: { port: ${port} }\nstore: { type: memory }\nplatforms: [{ id: sandbox, type: sandbox }]\n`);
    const { PORT: _, ...env } = process.env;
    const failed = (await run(process.execPath, [join(root, 'bin/switchboard.js'), 'start', '--config', config], { cwd: dir, env }).catch((e: unknown) => e)) as { code: number; stdout: string; stderr: string };
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim()).toBe(
      `Cannot start: port ${port} on 127.0.0.1 is already in use (another program, or another Switchboard, listens there). ` +
        `Pick another port: PORT=${port + 1} switchboard start, or server.port in the config (PORT wins; 0 takes any free port).`,
    );
    expect(`${failed.stdout}${failed.stderr}`).not.toMatch(/\n\s+at |"stack"|EADDRINUSE/);
  }, 20_000);
});
