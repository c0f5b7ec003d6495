// Several real Switchboard processes on one Redis store and one Telegram (webhook mode): the
// updates are posted round-robin to the instances, each queues what it takes, and the workers of
// every instance handle the queues. What users see is judged: every message answered once, each
// chat in order; and when an instance is SIGKILLed mid-burst, another worker finishes what it
// was handling (after cluster.stallTimeout) without losing or doubling anything.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SwitchboardProcess } from './drill/child.js';
import { judge, type Send } from './drill/verdict.js';
import { waitFor } from './helpers.js';
import { dropPrefix, redisUrl, testPrefix } from './redis.js';
import { redisTelegramSuite } from './redis-suite.js';

const secret = 'cluster-test';
const { fake, cleanups } = redisTelegramSuite();
const bot = fileURLToPath(new URL('./fixtures/drill-bot.ts', import.meta.url));

/** Instances of one config (a Redis store under a prefix of the test's own), started side by side: `count`, or one per list of extra arguments. */
async function startCluster(count: number | string[][], env: NodeJS.ProcessEnv): Promise<SwitchboardProcess[]> {
  const { config, dir } = await clusterConfig(bot, '5s');
  const args = typeof count === 'number' ? Array.from({ length: count }, () => []) : count;
  const procs = await Promise.all(args.map((extra) => SwitchboardProcess.start(config, dir, env, 30_000, extra)));
  cleanups.push(() => Promise.all(procs.map((p) => p.kill())));
  return procs;
}

/** A config for instances sharing a Redis store under a prefix of the test's own, in a folder of its own. */
async function clusterConfig(botFile: string, shutdownTimeout: string): Promise<{ config: string; dir: string }> {
  const prefix = testPrefix('cluster');
  cleanups.push(() => dropPrefix(prefix));
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-cluster-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'switchboard.yaml');
  await writeFile(
    config,
    [
      `bot: ${botFile}`,
      `server: { port: 0, shutdownTimeout: ${shutdownTimeout} }`,
      `store: { type: redis, url: "${redisUrl}", prefix: "${prefix}" }`,
      'cluster: { partitions: 16, stallTimeout: 2s }',
      'platforms:',
      `  - { id: tg, type: telegram, token: "${fake.token}", mode: webhook, secretToken: ${secret}, apiRoot: "${fake.url}", limits: false }`,
      '',
    ].join('\n'),
  );
  return { config, dir };
}

let updateId = 5_000_000;
let bursts = 0;
/** Posts one update the way Telegram does; true once an instance answered 200. */
async function post(url: string, chat: number, text: string, id: number): Promise<boolean> {
  const body = JSON.stringify({ update_id: id, message: { message_id: id, date: 1_700_000_000, chat: { id: chat, type: 'private', first_name: 'C' }, from: { id: chat, is_bot: false, first_name: 'C' }, text } });
  try {
    const res = await fetch(`${url}/webhooks/tg`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret } });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false; // the instance is gone: the platform tries again (here, at the next instance)
  }
}

/**
 * `chats` chats send `perChat` messages each, a chat's next one once its last was taken (as
 * Telegram does), every message to the next instance in turn; one that is not taken goes to the
 * next live instance, as a redelivery behind a load balancer would.
 */
async function burst(procs: SwitchboardProcess[], chats: number, perChat: number, onTaken?: (taken: number) => void) {
  const expected = new Map<string, string[]>();
  const acked = new Set<string>();
  const tag = ++bursts;
  let turn = 0;
  await Promise.all(
    Array.from({ length: chats }, async (_, c) => {
      const chat = 70_000 + tag * 1000 + c;
      const texts = Array.from({ length: perChat }, (_, i) => `b${tag}c${chat}m${i}`);
      expected.set(String(chat), texts);
      for (const text of texts) {
        const id = ++updateId;
        for (let target = turn++; ; target++) {
          const proc = procs[target % procs.length]!;
          if (proc.running && (await post(proc.url, chat, text, id))) break;
        }
        acked.add(text);
        onTaken?.(acked.size);
      }
    }),
  );
  return { expected, acked };
}

const sendsOf = (texts: Set<string>): Send[] => fake.delivered().filter((c) => texts.has(c.params.text!)).map((c) => ({ chat: c.params.chat_id!, text: c.params.text!, at: c.at }));
const handledBy = (proc: SwitchboardProcess) => proc.output.split('\n').filter((line) => line.includes('"msg":"message handled"')).length;

describe('several instances on one Redis store', () => {
  it('three instances answer 2,000 messages from 200 chats posted round-robin: each once, every chat in order', async () => {
    const procs = await startCluster(3, { DRILL_MAX_WORK_MS: '0' });
    expect(procs[0]!.output).toContain('"role":"all"');
    const { expected, acked } = await burst(procs, 200, 10);
    expect(acked.size).toBe(2000);
    const started = Date.now();
    await waitFor(() => new Set(sendsOf(acked).map((s) => s.text)).size === acked.size, 45_000, 'every message answered').catch(async (error: Error) => {
      throw new Error(`${error.message}: ${new Set(sendsOf(acked).map((s) => s.text)).size} of ${acked.size} after ${Date.now() - started} ms; handled ${procs.map(handledBy).join(', ')}\n${procs.map((p) => p.output.split('\n').filter((l) => !l.includes('"level":30')).slice(-5).join('\n')).join('\n---\n')}`);
    });
    const verdict = judge(sendsOf(acked), expected, acked, []);
    expect(verdict.lost).toEqual([]);
    expect(verdict.doubled).toEqual([]);
    expect(verdict.disordered).toEqual([]);
    // The work was shared, not done by whichever instance got there first.
    expect(await Promise.all(procs.map((p) => p.stop()))).toEqual([0, 0, 0]);
  }, 90_000);

  it('when an instance is SIGKILLed mid-burst, another worker finishes its messages: nothing lost, no reply doubled but one in flight at the kill, chats in order', async () => {
    const procs = await startCluster(3, { DRILL_MAX_WORK_MS: '300', DRILL_SAY_WORK: '1' });
    let victim: SwitchboardProcess | undefined;
    let killed: Promise<void> | undefined;
    let killedAt = 0;
    const { expected, acked } = await burst(procs, 40, 8, (taken) => {
      // Once a third is in: the instance that has handled the most is busy with partitions of its own.
      if (taken < 100 || killed) return;
      const busiest = procs.reduce((most, p) => (handledBy(p) > handledBy(most) ? p : most));
      victim = busiest;
      // Killed in the middle of a handler: as it starts one that works for 150 ms or more.
      const from = busiest.output.length;
      const longWork = () => [...busiest.output.slice(from).matchAll(/drill: working for (\d+) ms/g)].some((m) => Number(m[1]) >= 150);
      killed = waitFor(longWork, 20_000, 'a long handler on the busiest instance').then(() => {
        killedAt = Date.now();
        return busiest.kill();
      });
    });
    expect(killed, 'the victim was killed mid-burst').toBeDefined();
    await killed;
    await waitFor(() => new Set(sendsOf(acked).map((s) => s.text)).size === acked.size, 45_000, 'every taken message answered');
    const survivors = procs.filter((p) => p !== victim);
    expect(survivors).toHaveLength(2);
    // What the victim was running came back to a survivor once its lock ran out.
    expect(survivors.some((p) => p.output.includes('resuming an event left unfinished'))).toBe(true);
    // A reply sent in the instant before the kill, not yet marked delivered, is the one double a crash can explain.
    const verdict = judge(sendsOf(acked), expected, acked, [{ at: killedAt, restartedAt: killedAt + 10_000 }]);
    expect(verdict.lost).toEqual([]);
    expect(verdict.unexplained).toEqual([]);
    expect(verdict.crowdedKills).toEqual([]);
    expect(verdict.disordered).toEqual([]);
    expect(await Promise.all(survivors.map((p) => p.stop()))).toEqual([0, 0]);
  }, 90_000);

  it('splits the roles: an ingress queues what it takes, a worker handles it and answers webhooks 503', async () => {
    const [ingress, worker] = await startCluster([['--role', 'ingress'], ['--role', 'worker']], { DRILL_MAX_WORK_MS: '0' });
    expect(ingress!.output).toContain('"role":"ingress"');
    const refused = await fetch(`${worker!.url}/webhooks/tg`, { method: 'POST', body: JSON.stringify({ update_id: ++updateId, message: { message_id: 1, date: 1_700_000_000, chat: { id: 1, type: 'private' }, text: 'to the worker' } }), headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    const { expected, acked } = await burst([ingress!], 10, 5);
    await waitFor(() => new Set(sendsOf(acked).map((s) => s.text)).size === acked.size, 20_000, 'every message answered');
    const verdict = judge(sendsOf(acked), expected, acked, []);
    expect([verdict.lost, verdict.doubled, verdict.disordered]).toEqual([[], [], []]);
    // Logged once the replies are sent: the last line may come a moment after the fake saw the send.
    await waitFor(() => handledBy(worker!) === 50, 5000, 'the worker to log every message handled');
    expect(handledBy(ingress!)).toBe(0);
    expect(await Promise.all([ingress!.stop(), worker!.stop()])).toEqual([0, 0]);
  }, 60_000);

  it('an instance stopped mid-message leaves within its shutdown timeout, and another worker finishes the message once', async () => {
    const { config, dir } = await clusterConfig(fileURLToPath(new URL('./fixtures/stuck-bot.ts', import.meta.url)), '1s');
    // The first instance's handler outlives any shutdown; the second's answers at once.
    const first = await SwitchboardProcess.start(config, dir, { STUCK: '1' });
    cleanups.push(() => first.kill());
    expect(await post(first.url, 4242, 'stopped mid-way', ++updateId)).toBe(true);
    // Only now a second worker: the first has long taken the message.
    const second = await SwitchboardProcess.start(config, dir, { STUCK: '0' }, 30_000, ['--role', 'worker']);
    cleanups.push(() => second.kill());
    const stopping = Date.now();
    expect(await first.stop()).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(4000);
    await fake.waitForCall('sendMessage', (c) => c.params.text === 'stopped mid-way: done' && c.status === 200, 15_000);
    expect(second.output).toContain('resuming an event left unfinished');
    expect(await second.stop()).toBe(0);
    expect(fake.delivered().filter((c) => c.params.text === 'stopped mid-way: done')).toHaveLength(1);
  }, 60_000);
});
