// Connections held once across instances, on the real CLI and a real Redis: three Switchboards
// share one store, and only the holder of a connection's lease opens it. Telegram polling: exactly
// one instance polls while updates stream in; a SIGKILLed holder is replaced once its lease runs
// out, a SIGTERMed one hands over at once, and every update is answered once with never two polls
// at the same time (the fake ends an overlapped long poll with 409, as Telegram does, and counts
// it). The QQ gateway: two instances, one socket.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardProcess } from './drill/child.js';
import { FakeQQ, groupAt } from './fakes/qq.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { waitFor } from './helpers.js';
import { dropPrefix, redisUrl, requireRedis, testPrefix } from './redis.js';

const ttl = 3000;
const bot = fileURLToPath(new URL('./fixtures/drill-bot.ts', import.meta.url));
const cleanups: (() => Promise<unknown>)[] = [];
let dir = '';

beforeAll(async () => {
  await requireRedis();
  dir = await mkdtemp(join(tmpdir(), 'switchboard-lease-'));
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

interface Health {
  platforms: { id: string; connection?: string; held?: boolean }[];
}

async function connectionOf(proc: SwitchboardProcess): Promise<{ connection?: string; held?: boolean }> {
  const health = (await (await fetch(`${proc.url}/healthz`)).json()) as Health;
  return health.platforms[0]!;
}

/** Each config's store prefix, by name. */
const prefixOf: Record<string, string> = {};

/** Starts `count` instances of one config (one store prefix) side by side. */
async function instances(name: string, platform: string, count: number): Promise<SwitchboardProcess[]> {
  const prefix = (prefixOf[name] = testPrefix(name));
  cleanups.push(() => dropPrefix(prefix));
  const config = join(dir, `${name}.yaml`);
  await writeFile(config, [`bot: ${bot}`, 'server: { port: 0 }', `store: { type: redis, url: "${redisUrl}", prefix: "${prefix}" }`, `cluster: { leaseTtl: ${ttl}ms }`, 'platforms:', `  - ${platform}`, ''].join('\n'));
  const procs = await Promise.all(Array.from({ length: count }, () => SwitchboardProcess.start(config, dir, { DRILL_MAX_WORK_MS: '0' })));
  for (const proc of procs) cleanups.push(() => proc.kill());
  return procs;
}

/** Waits until exactly one of `procs` holds its connection (up) and every other stands by; returns the holder. */
async function oneHolder(procs: SwitchboardProcess[], timeoutMs = ttl * 3): Promise<SwitchboardProcess> {
  return waitFor(
    async () => {
      const states = await Promise.all(procs.map(connectionOf));
      const up = states.filter((s) => s.connection === 'up' && s.held === true);
      const standby = states.filter((s) => s.connection === 'standby' && s.held === false);
      return up.length === 1 && standby.length === procs.length - 1 && procs[states.findIndex((s) => s.connection === 'up')]!;
    },
    timeoutMs,
    `one holder among ${procs.length} instances, the others on standby`,
  );
}

describe('connections held once across instances (Redis)', () => {
  it('Telegram polling: one poller of three; a SIGKILLed holder is replaced within the lease, a SIGTERMed one at once; every update answered once, no 409', async () => {
    const fake = new FakeTelegram();
    await fake.start();
    cleanups.push(() => fake.stop());
    const procs = await instances('tg', `{ id: tg, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}", pollTimeout: 5 }`, 3);
    const first = await oneHolder(procs);
    // /readyz counts a standby as ready: the connection is held, by another instance.
    for (const proc of procs) expect((await fetch(`${proc.url}/readyz`)).status).toBe(200);

    // A stream of updates, one every 50 ms, each from a chat of its own: within Telegram's send
    // limits (30 a second, 1 a second per chat), so no reply waits for pacing.
    const texts: string[] = [];
    let streaming = true;
    let lastId = 0;
    const push = () => {
      const n = texts.length;
      const chat = 5000 + n;
      texts.push(`u${n}`);
      lastId = fake.pushMessage({ text: `u${n}`, chat: { id: chat, type: 'private', first_name: 'Load' }, from: { id: chat, is_bot: false, first_name: 'Load' } });
    };
    const stream = setInterval(() => streaming && push(), 50);
    cleanups.push(async () => clearInterval(stream));
    const answered = () => new Set(fake.delivered().map((c) => c.params.text));
    const allAnswered = (what: string) =>
      waitFor(() => texts.every((t) => answered().has(t)), 15_000, what).catch((error: Error) => {
        throw new Error(`${error.message}; unanswered: ${texts.filter((t) => !answered().has(t)).join(' ')}`);
      });

    await waitFor(() => texts.length >= 40, 5000, 'the first updates');
    // Killed between two updates, so no reply of its own is in flight (Telegram takes no
    // idempotency key; a send cut off by a kill is the drills' subject): the stream goes on at once.
    streaming = false;
    await allAnswered('the updates before the kill');
    // Its next poll is asked for once the offset past them is saved.
    const polledOn = String(lastId + 1);
    await fake.waitForCall('getUpdates', (c) => c.params.offset === polledOn, 5000);
    // And every event it answered is finished in the store: the last answer's bookkeeping is not
    // waited for before the next poll, and a kill before it lands is the in-flight double above.
    const redis = new Redis(redisUrl);
    cleanups.push(async () => redis.disconnect());
    await waitFor(async () => (await redis.hlen(`${prefixOf.tg}events`)) === 0, 5000, 'the answered events to be finished in the store');
    const killedAt = Date.now();
    await first.kill();
    streaming = true;
    const takeover = await fake.waitForCall('getUpdates', (c) => c.at > killedAt, ttl * 3);
    expect(takeover.at - killedAt).toBeLessThanOrEqual(ttl + 1000);
    // The new holder goes on from the offset the dead one saved in the store.
    expect(takeover.params.offset).toBe(polledOn);
    const survivors = procs.filter((p) => p !== first);
    const second = await oneHolder(survivors);

    await waitFor(() => texts.length >= 120, 10_000, 'more updates after the takeover');
    const stoppedAt = Date.now();
    const stopping = second.stop();
    // The last standby's first session starts with getMe (it never polled before).
    const handover = await fake.waitForCall('getMe', (c) => c.at > stoppedAt, ttl * 3);
    expect(await stopping).toBe(0);
    expect(second.output).toContain('"msg":"connection lease released"');
    // Released, not left to expire: the last standby takes it on its next try (about ttl/3), well within the TTL.
    expect(handover.at - stoppedAt).toBeLessThan(ttl * 0.7);
    const third = survivors.find((p) => p !== second)!;
    await waitFor(async () => (await connectionOf(third)).connection === 'up', ttl * 2, 'the third instance polling');

    await waitFor(() => texts.length >= 180, 10_000, 'more updates after the handover');
    streaming = false;
    await allAnswered('every update');
    const counts = new Map<string, number>();
    for (const call of fake.delivered()) counts.set(call.params.text!, (counts.get(call.params.text!) ?? 0) + 1);
    expect([...counts.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(counts.size).toBe(texts.length);
    expect(fake.conflicts).toBe(0);
    expect(fake.getUpdatesConcurrencyPeak).toBe(1);
    expect(await third.stop()).toBe(0);
    console.log(`lease drill: ${texts.length} updates; taken over ${takeover.at - killedAt} ms after the SIGKILL (lease ${ttl} ms), ${handover.at - stoppedAt} ms after the SIGTERM`);
  }, 90_000);

  it('QQ gateway: two instances open one socket between them; the standby connects when the holder stops', async () => {
    const fake = await new FakeQQ().start();
    cleanups.push(() => fake.stop());
    const procs = await instances('qq', `{ id: qq, type: qq, appId: "${fake.appId}", appSecret: "${fake.appSecret}", mode: websocket, apiRoot: "${fake.url}", tokenUrl: "${fake.url}/app/getAppAccessToken" }`, 2);
    const holder = await oneHolder(procs);
    expect(fake.gateway.connections).toBe(1);
    expect(fake.gateway.openSockets).toBe(1);
    const event = groupAt('once');
    fake.gateway.push(event.t, event.d, event.id);
    await waitFor(() => fake.sent.some((s) => s.body.msg_id === event.d.id), 5000, 'the answer');

    expect(await holder.stop()).toBe(0);
    const other = procs.find((p) => p !== holder)!;
    await waitFor(async () => (await connectionOf(other)).connection === 'up', ttl * 2, 'the standby taking the gateway over');
    expect(fake.gateway.connections).toBe(2);
    expect(fake.gateway.openSockets).toBe(1);
    const after = groupAt('after the handover');
    fake.gateway.push(after.t, after.d, after.id);
    // Its chat's partition may have been the holder's: the standby takes it over when it next asks,
    // which under load can be a third of cluster.stallTimeout (15 s here) after the release.
    await waitFor(() => fake.sent.some((s) => s.body.msg_id === after.d.id), 15_000, 'the answer after the handover');
    expect(fake.sent.filter((s) => s.body.msg_id === event.d.id)).toHaveLength(1);
    expect(await other.stop()).toBe(0);
  }, 60_000);
});
