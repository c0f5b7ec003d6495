// The Redis store under faults, on the real CLI behind a Telegram webhook. Three instances share
// a Redis of the test's own (appendonly, fsync always, as production should run it), which is
// SIGKILLed mid-burst and started again: meanwhile every webhook gets a quick 503 with
// Retry-After (never a 200 for an update not recorded) and /healthz says the store is down; once
// it is back the instances reconnect on their own, take the redeliveries, and every update
// acknowledged is answered exactly once. And a SIGKILLed Switchboard on Redis resumes what it left.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SwitchboardProcess } from './drill/child.js';
import { runDrill } from './drill/run.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { waitFor } from './helpers.js';
import { dropPrefix, OwnRedis, redisUrl, requireRedis, testPrefix } from './redis.js';

const secret = 'redis-drill';
const fake = new FakeTelegram();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await fake.stop();
});

const update = (id: number, chat: number, text: string) =>
  JSON.stringify({ update_id: id, message: { message_id: id, date: 1_700_000_000, chat: { id: chat, type: 'private', first_name: 'Ops' }, from: { id: chat, is_bot: false, first_name: 'Ops' }, text } });

/** Resolves once `ready()` holds, looked at each time `poke` is called. */
function once(ready: () => boolean): { reached: Promise<void>; poke: () => void } {
  let resolve!: () => void;
  const reached = new Promise<void>((r) => (resolve = r));
  return { reached, poke: () => ready() && resolve() };
}

describe('drill: the Redis store', () => {
  it('three instances on one Redis killed mid-burst: quick 503s with Retry-After while it is down, then every update acknowledged is answered exactly once', async () => {
    await fake.start();
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-redis-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const redis = await OwnRedis.start(dir);
    cleanups.push(() => redis.kill());
    const config = join(dir, 'switchboard.yaml');
    const bot = fileURLToPath(new URL('./fixtures/drill-bot.ts', import.meta.url));
    await writeFile(config, [`bot: ${bot}`, 'server: { port: 0, retryAfter: 1s }', `store: { type: redis, url: "${redis.url}", prefix: "drill:" }`, 'platforms:', `  - { id: tg, type: telegram, token: "${fake.token}", mode: webhook, secretToken: ${secret}, apiRoot: "${fake.url}" }`, ''].join('\n'));
    const instances = await Promise.all([1, 2, 3].map(() => SwitchboardProcess.start(config, dir, { DRILL_MAX_WORK_MS: '300' })));
    cleanups.push(() => Promise.all(instances.map((i) => i.kill())));
    for (const instance of instances) expect(instance.output).toContain(`"store":"redis ${redis.url} (prefix drill:)"`);
    const health = async (instance: SwitchboardProcess) => (await (await fetch(`${instance.url}/healthz`)).json()) as { status: string; store: { available: boolean } };

    const chats = 20;
    const perChat = 15;
    const texts = new Map<string, number>();
    const acked = new Set<string>();
    const refusals: { status: number; retryAfter: string | null; ms: number }[] = [];
    let down = false;
    let refusedWhileDown = 0;
    const third = once(() => acked.size >= (chats * perChat) / 3);
    const refusedEnough = once(() => refusedWhileDown >= 20);
    let turn = 0;
    // Telegram's side: each chat's updates one after another, the next once the last got a 2xx;
    // anything else (or no answer) is delivered again shortly, to whichever instance the proxy picks.
    const deliver = async (id: number, chat: number, text: string) => {
      texts.set(text, id);
      for (;;) {
        const instance = instances[turn++ % instances.length]!;
        const asked = Date.now();
        const res = await fetch(`${instance.url}/webhooks/tg`, { method: 'POST', body: update(id, chat, text), headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret } }).catch(() => undefined);
        if (res) {
          await res.arrayBuffer();
          if (res.ok) {
            acked.add(text);
            third.poke();
            return;
          }
          refusals.push({ status: res.status, retryAfter: res.headers.get('retry-after'), ms: Date.now() - asked });
          if (down) refusedWhileDown++;
          refusedEnough.poke();
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const burst = Promise.all(
      Array.from({ length: chats }, async (_, c) => {
        for (let m = 0; m < perChat; m++) await deliver(700_000 + c * perChat + m, 500 + c, `c${c}m${m}`);
      }),
    );

    await third.reached;
    down = true;
    await redis.kill();
    for (const instance of instances) await waitFor(async () => (await health(instance)).store.available === false, 5000, `${instance.url}/healthz to show the store down`);
    expect((await health(instances[0]!)).status).toBe('degraded');
    await refusedEnough.reached;
    const ackedWhileDown = acked.size;
    await redis.restart();
    down = false;
    await burst;
    expect(acked.size).toBe(chats * perChat);
    expect(ackedWhileDown).toBeLessThan(chats * perChat);
    // Every refusal was the one quick 503, with Retry-After.
    expect(refusals.length).toBeGreaterThanOrEqual(20);
    expect(refusals.filter((r) => r.status !== 503 || r.retryAfter !== '1' || r.ms >= 1000)).toEqual([]);
    for (const instance of instances) expect((await health(instance)).store.available).toBe(true);

    const answers = () => fake.delivered().filter((c) => texts.has(c.params.text!));
    const missing = () => [...acked].filter((t) => !answers().some((c) => c.params.text === t));
    // What each instance logged of these updates (by update id, and by the event ids that names).
    const logsOf = (of: string[]) => {
      const keys = of.map((t) => String(texts.get(t)));
      const all = instances.flatMap((i, n) => i.output.split('\n').map((l) => `${n}: ${l}`));
      const events = new Set(all.filter((l) => keys.some((k) => l.includes(`"key":"${k}"`) || l.includes(`:${k},`))).flatMap((l) => [...l.matchAll(/"event":"([^"]+)"/g)].map((m) => m[1]!)));
      const notable = (l: string) => /"level":(40|50|60)/.test(l) || l.includes('resuming');
      return all.filter((l) => notable(l) || keys.some((k) => l.includes(`"key":"${k}"`) || l.includes(`:${k},`)) || [...events].some((e) => l.includes(e))).join('\n');
    };
    // An event recorded while its queueing failed waits for the sweeper, which takes only events a
    // period old (cluster.stallTimeout, 15 s by default): up to two periods, then its chat's turn.
    await waitFor(() => missing().length === 0, 2 * 15_000 + 15_000, 'an answer to every update').catch((error: Error) => {
      throw new Error(`${error.message}: ${missing().join(' ')}\n${logsOf(missing())}`);
    });
    // Stopped with SIGTERM, each finishes what it holds: nothing more may be sent after.
    expect(await Promise.all(instances.map((i) => i.stop()))).toEqual([0, 0, 0]);
    const counts = new Map<string, number>();
    for (const call of answers()) counts.set(call.params.text!, (counts.get(call.params.text!) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n !== 1);
    expect(twice, logsOf(twice.map(([t]) => t))).toEqual([]);
    expect(counts.size).toBe(acked.size);
  }, 120_000);

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
