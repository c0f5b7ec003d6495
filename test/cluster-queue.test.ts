// The shared work queues (src/cluster) in one process, on a real Redis: a job whose event is
// finished already completes without running; the sweeper queues an event admitted but never
// queued; one chat's events run one at a time in order; the instance that queued an event hears
// that it was handled when another ran it; and --role is refused without a Redis store.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClusterWork, type ClusterWorkOptions } from '../src/cluster/work-queue.js';
import { partitionName, partitionOf } from '../src/cluster/partitions.js';
import type { RunEnd } from '../src/pipeline/handle.js';
import type { MessageJournal } from '../src/pipeline/journal.js';
import { RedisStore } from '../src/store/redis/index.js';
import type { StoredEvent } from '../src/store/index.js';
import { defineBot } from '../src/bot/bot.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { callback } from './fakes/vk.js';
import { alpha, stopVk, vk } from './fakes/vk-harness.js';
import { captureLogs, startRuntime, waitFor } from './helpers.js';
import { dropPrefix, redisUrl, requireRedis, testPrefix } from './redis.js';

const prefixes: string[] = [];
const closing: (() => Promise<unknown>)[] = [];
beforeAll(() => requireRedis());
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});
afterAll(async () => {
  for (const prefix of prefixes) await dropPrefix(prefix);
});

const journal = (chat: string, text: string): MessageJournal => ({
  stage: 'received',
  message: { id: text, platform: 'telegram', botId: 'tg', channel: { id: chat, type: 'direct' }, user: { id: chat }, content: [{ type: 'text', text }], text, timestamp: 0, raw: {} },
} as unknown as MessageJournal);

async function setup() {
  const prefix = testPrefix('queue');
  prefixes.push(prefix);
  const store = await RedisStore.open({ url: redisUrl, prefix });
  closing.push(() => store.close());
  const { logger } = captureLogs();
  const open = async (extra: Partial<ClusterWorkOptions>) => {
    const work = await ClusterWork.open({ url: redisUrl, prefix, partitions: 4, stallTimeoutMs: 2000, store, logger, ingress: true, ...extra });
    closing.push(() => work.close(Date.now() + 2000));
    return work;
  };
  return { prefix, store, open };
}

/** A worker's run that records what it ran, finishing each event as the pipeline would. */
function recorder(store: RedisStore, workMs = 0) {
  const ran: { id: string; resumed: boolean }[] = [];
  let running = 0;
  let overlapped = false;
  const run = async (event: StoredEvent, resumed: boolean): Promise<RunEnd> => {
    if (++running > 1) overlapped = true;
    ran.push({ id: event.id, resumed });
    if (workMs > 0) await new Promise((resolve) => setTimeout(resolve, workMs));
    await store.inbox.finish(event.id);
    running--;
    return 'done';
  };
  return { ran, run, overlapped: () => overlapped };
}

describe('cluster work queues', () => {
  it('completes a job whose event is no longer in the inbox without running it', async () => {
    const { prefix, store, open } = await setup();
    const { ran, run } = recorder(store);
    const work = await open({ run });
    await work.start();
    // "gone" was never admitted (or was finished already); "real" waits behind it in the same chat.
    await work.enqueue('gone', 'tg\u00000', undefined);
    await store.inbox.admit({ id: 'real', botId: 'tg', journal: journal('0', 'real') }, 60_000);
    await work.enqueue('real', 'tg\u00000', undefined);
    await waitFor(() => ran.length === 1, 10_000, 'the admitted event to run');
    expect(ran).toEqual([{ id: 'real', resumed: false }]);
    const queue = new Queue(partitionName(partitionOf('tg\u00000', 4)), { connection: { url: redisUrl }, prefix: `${prefix}bull` });
    closing.push(() => queue.close());
    await waitFor(async () => (await queue.getJobCounts('active', 'wait', 'completed', 'failed')).active === 0, 5000, 'the queue to settle');
    expect(await queue.getJobCounts('active', 'wait', 'completed', 'failed')).toEqual({ active: 0, wait: 0, completed: 0, failed: 0 });
  });

  it('queues again an event admitted but never queued, once it is older than the last sweep', async () => {
    const { store, open } = await setup();
    const { ran, run } = recorder(store);
    const work = await open({ run });
    await store.inbox.admit({ id: 'orphan', botId: 'tg', journal: journal('7', 'orphan') }, 60_000);
    // The first sweep only marks what it saw: an event that young may be being queued right now.
    expect(await work.sweeper.sweep()).toBe(0);
    await work.start();
    // Another sweep within the period is left to whoever holds the claim.
    expect(await work.sweeper.sweep()).toBe(0);
    await store.delete('cluster:sweep');
    expect(await work.sweeper.sweep()).toBe(1);
    await waitFor(() => ran.length === 1, 10_000, 'the swept event to run');
    // Swept, it may have run before (its end not recorded): it is resumed, so what was delivered is not sent again.
    expect(ran).toEqual([{ id: 'orphan', resumed: true }]);
  });

  it('runs one chat at a time across two workers, in the order queued', async () => {
    const { store, open } = await setup();
    const shared = recorder(store, 20);
    const [a, b] = [await open({ run: shared.run }), await open({ run: shared.run })];
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const id = `c${i}`;
      ids.push(id);
      await store.inbox.admit({ id, botId: 'tg', journal: journal('1', id) }, 60_000);
      await a.enqueue(id, 'tg\u00001', undefined);
    }
    await Promise.all([a.start(), b.start()]);
    await waitFor(() => shared.ran.length === 10, 10_000, 'every event to run');
    expect(shared.ran.map((r) => r.id)).toEqual(ids);
    expect(shared.overlapped()).toBe(false);
  });

  it('shares the partitions out between two worker instances, each running its own, and hands a closed one\'s to the other', async () => {
    const { store, open } = await setup();
    const [ranA, ranB] = [recorder(store), recorder(store)];
    const [a, b] = [await open({ run: ranA.run }), await open({ run: ranB.run })];
    await Promise.all([a.start(), b.start()]);
    await waitFor(() => a.held.length === 2 && b.held.length === 2, 15_000, 'two partitions each');
    expect([...a.held, ...b.held].sort()).toEqual(['p0', 'p1', 'p2', 'p3']);
    // A chat in each partition: its event runs on the instance that holds the partition, and only there.
    const chats = [0, 1, 2, 3].map((p) => `tg\u0000${Array.from({ length: 100 }, (_, i) => i).find((i) => partitionOf(`tg\u0000${i}`, 4) === p)}`);
    const post = async (round: string, ingress: ClusterWork) => {
      for (const chat of chats) {
        const id = `${round}-${partitionName(partitionOf(chat, 4))}`;
        await store.inbox.admit({ id, botId: 'tg', journal: journal(chat.slice(3), id) }, 60_000);
        await ingress.enqueue(id, chat, undefined);
      }
    };
    await post('first', a);
    await waitFor(() => ranA.ran.length + ranB.ran.length === 4, 10_000, 'an event in every partition to run');
    expect(ranA.ran.map((r) => r.id.slice('first-'.length)).sort()).toEqual(a.held);
    expect(ranB.ran.map((r) => r.id.slice('first-'.length)).sort()).toEqual(b.held);
    await a.close(Date.now() + 2000);
    await waitFor(() => b.held.length === 4, 15_000, 'the other instance to take every partition');
    await post('second', b);
    await waitFor(() => ranB.ran.length === 6, 10_000, 'the second events to run');
    expect(ranB.ran.filter((r) => r.id.startsWith('second-')).length).toBe(4);
    expect(ranA.ran.length).toBe(2);
  });

  it('tells the instance that queued an event when a worker elsewhere has handled it', async () => {
    const { store, open } = await setup();
    const { ran, run } = recorder(store);
    const ingress = await open({ ingress: true });
    const worker = await open({ ingress: false, run });
    await Promise.all([ingress.start(), worker.start()]);
    await store.inbox.admit({ id: 'http-1', botId: 'api', journal: journal('9', 'hello') }, 60_000);
    let handled = 0;
    await ingress.enqueue('http-1', 'api\u00009', () => handled++);
    await waitFor(() => handled === 1, 10_000, 'onHandled on the ingress');
    expect(ran.map((r) => r.id)).toEqual(['http-1']);
  });
});

describe('several instances sending what no event owns', () => {
  it('sends a dead letter an operator asked to retry, and a reply left without its event, from one instance only', async () => {
    const { prefix, store } = await setup();
    const fake = new FakeTelegram();
    await fake.start();
    closing.push(() => fake.stop());
    const to = { botId: 'tg', channelId: '555' };
    await store.outbox.add([{ key: 'gone:0', eventId: 'gone', index: 0, message: { to, content: [{ type: 'text', text: 'retried once' }] } }]);
    await store.outbox.dead('gone:0', [], 'HTTP 400');
    await store.outbox.retry('gone:0');
    await store.outbox.add([{ key: 'lost:0', eventId: 'lost', index: 0, message: { to, content: [{ type: 'text', text: 'orphan sent once' }] } }]);
    const yaml = `store: { type: redis, url: "${redisUrl}", prefix: "${prefix}" }\nplatforms:\n  - { id: tg, type: telegram, token: "${fake.token}", mode: webhook, secretToken: s, apiRoot: "${fake.url}", limits: false }\n`;
    const instances = await Promise.all([startRuntime(yaml), startRuntime(yaml)]);
    for (const { runtime } of instances) closing.push(() => runtime.stop());
    // Both look for retries again, as their timers would, and finish what they started.
    await Promise.all(instances.map(({ runtime }) => runtime.pipeline.sendRetries()));
    await Promise.all(instances.map(({ runtime }) => runtime.pipeline.drain(10_000)));
    for (const text of ['retried once', 'orphan sent once']) expect(fake.delivered().filter((c) => c.params.text === text)).toHaveLength(1);
    expect((await store.outbox.get('gone:0'))?.state).toBe('delivered');
  });
});

describe('platform events with a Redis store', () => {
  it('go through the work queues to the bot\'s event handlers, once each', async () => {
    const { prefix } = await setup();
    const events: string[] = [];
    const bot = defineBot((b) => b.on('event', (ctx) => void events.push(`${ctx.event.type} ${ctx.event.author?.id}`)));
    closing.push(stopVk);
    const { deliver } = await vk({ bot, extra: `store: { type: redis, url: "${redisUrl}", prefix: "${prefix}" }\n` });
    const allow = callback(alpha, 'message_allow', { user_id: 42 });
    expect(await (await deliver(allow)).text()).toBe('ok');
    expect(await (await deliver(allow, { retry: 1 })).text()).toBe('ok');
    expect(await (await deliver(callback(alpha, 'message_deny', { user_id: 43 }))).text()).toBe('ok');
    await waitFor(() => events.length === 2, 5000, 'both events handled');
    expect(events.sort()).toEqual(['message_allow 42', 'message_deny 43']);
  });
});

describe('switchboard start --role', () => {
  it('refuses ingress or worker without a Redis store, saying what to set', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-role-'));
    closing.push(() => rm(dir, { recursive: true, force: true }));
    const config = join(dir, 'switchboard.yaml');
    await writeFile(config, 'store: { path: ./sb.db }\nplatforms:\n  - { id: sb, type: sandbox }\n');
    const bin = fileURLToPath(new URL('../bin/switchboard.js', import.meta.url));
    const refused = await promisify(execFile)(process.execPath, [bin, 'start', '--config', config, '--role', 'worker'], { cwd: dir }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toContain('--role worker is for several instances sharing one Redis store: set store.type: redis');
  });
});
