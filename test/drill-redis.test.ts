// The Redis store under faults, on the real CLI behind a Telegram webhook: a Redis of the test's
// own is stopped and started again while updates arrive. While it is down every update gets a
// 503 with Retry-After (never a 200 for one not recorded); once it is back, the redeliveries are
// taken and answered once; and a SIGKILLed Switchboard on Redis resumes what it left.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { SwitchboardProcess } from './drill/child.js';
import { runDrill } from './drill/run.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { waitFor } from './helpers.js';
import { dropPrefix, redisUrl, requireRedis, testPrefix } from './redis.js';

const secret = 'redis-drill';
const fake = new FakeTelegram();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await fake.stop();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A redis-server of this test's own, on `port`, keeping nothing on disk. */
async function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await waitFor(
    async () => {
      const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    },
    10_000,
    `redis-server on port ${port}`,
  );
  return child;
}

let updateId = 3000;
const update = (text: string) => ({ update_id: ++updateId, message: { message_id: updateId, date: 1_700_000_000, chat: { id: 88, type: 'private', first_name: 'Ops' }, from: { id: 88, is_bot: false, first_name: 'Ops' }, text } });

describe('drill: the Redis store', () => {
  it('answers 503 with Retry-After while Redis is down, and takes the redelivery once it is back', async () => {
    await fake.start();
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-redis-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    let redis = await startRedis(port, dir);
    cleanups.push(async () => redis.kill('SIGKILL'));
    const config = join(dir, 'switchboard.yaml');
    const bot = fileURLToPath(new URL('./fixtures/drill-bot.ts', import.meta.url));
    await writeFile(config, [`bot: ${bot}`, 'server: { port: 0, retryAfter: 3s }', `store: { type: redis, url: "redis://127.0.0.1:${port}", prefix: "drill:" }`, 'platforms:', `  - { id: tg, type: telegram, token: "${fake.token}", mode: webhook, secretToken: ${secret}, apiRoot: "${fake.url}" }`, ''].join('\n'));
    const proc = await SwitchboardProcess.start(config, dir, { DRILL_MAX_WORK_MS: '0' });
    cleanups.push(() => proc.kill());
    expect(proc.output).toContain(`"store":"redis redis://127.0.0.1:${port} (prefix drill:)"`);
    const post = async (body: object) => fetch(`${proc.url}/webhooks/tg`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret }, body: JSON.stringify(body) });

    const before = update('redis: before');
    expect((await post(before)).status).toBe(200);
    await fake.waitForCall('sendMessage', (c) => c.params.text === 'redis: before' && c.status === 200, 10_000);

    redis.kill('SIGKILL');
    await new Promise((resolve) => redis.once('exit', resolve));
    const during = update('redis: while it was down');
    const refused = await post(during);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('3');

    redis = await startRedis(port, dir);
    // The platform delivers again until it gets a 2xx: Switchboard reconnects on its own.
    const accepted = await waitFor(async () => (await post(during)).status === 200, 15_000, 'the redelivery taken once Redis is back');
    expect(accepted).toBe(true);
    await fake.waitForCall('sendMessage', (c) => c.params.text === 'redis: while it was down' && c.status === 200, 10_000);
    expect(await proc.stop()).toBe(0);
    expect(fake.delivered().filter((c) => c.params.text === 'redis: while it was down')).toHaveLength(1);
  }, 60_000);

  it('after SIGKILLs under load, on Redis: nothing acknowledged is lost, doubles only in flight, chats in order', async () => {
    await requireRedis();
    if (!fake.url) await fake.start();
    const prefix = testPrefix('drill');
    cleanups.push(() => dropPrefix(prefix));
    let id = 0;
    const ids = new Map<string, number>();
    const result = await runDrill(
      {
        platform: `{ id: tg, type: telegram, token: "${fake.token}", mode: webhook, secretToken: ${secret}, apiRoot: "${fake.url}" }`,
        deliver: async (url, chat, text) => {
          if (!ids.has(text)) ids.set(text, 900_000 + ++id);
          const n = ids.get(text)!;
          const body = JSON.stringify({ update_id: n, message: { message_id: n, date: 1_700_000_000, chat: { id: chat, type: 'private', first_name: 'Drill' }, from: { id: chat, is_bot: false, first_name: 'Drill' }, text } });
          const res = await fetch(`${url}/webhooks/tg`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret } });
          await res.arrayBuffer();
          return res.ok;
        },
        sends: () => fake.delivered().filter((c) => ids.has(c.params.text!)).map((c) => ({ chat: c.params.chat_id!, text: c.params.text!, at: c.at })),
      },
      { chats: 40, perChat: 5, inFlight: 20, rounds: 3, store: `{ type: redis, url: "${redisUrl}", prefix: "${prefix}" }` },
    );
    const { verdict, report, kills, acked } = result;
    expect(kills).toHaveLength(3);
    expect(acked.size).toBe(200);
    expect(verdict.lost, report).toEqual([]);
    expect(verdict.unexplained, report).toEqual([]);
    expect(verdict.crowdedKills, report).toEqual([]);
    expect(verdict.disordered, report).toEqual([]);
  }, 240_000);
});
