// Telegram under the durable core: an update is handled once across a restart, and a reply the
// Bot API refuses is retried by the core's policy (after retry_after, part by part) or kept as a
// dead letter, as a user and an operator would see it.

import { afterEach, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/runtime/runtime.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { startRuntime, tempStorePath, waitFor } from './helpers.js';

const secret = 'hook-secret_123';
/** Fast retries, so a test sees the policy at work without waiting out production backoffs. */
const delivery = 'delivery: { attempts: 4, initialDelay: 10ms, maxDelay: 50ms }\n';

let runtime: Runtime | undefined;
let fake: FakeTelegram | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  runtime = fake = undefined;
});

async function start(options: { mode?: 'polling' | 'webhook'; storePath?: string } = {}) {
  fake ??= await startFake();
  const mode = options.mode ?? 'polling';
  const yaml = `${delivery}platforms:\n  - { id: tg, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}", mode: ${mode}, pollTimeout: 1${mode === 'webhook' ? `, secretToken: ${secret}` : ''} }\n`;
  const started = await startRuntime(yaml, { storePath: options.storePath });
  runtime = started.runtime;
  const url = started.url;
  const webhook = (update: object) =>
    fetch(`${url}/webhooks/tg`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret }, body: JSON.stringify(update) });
  return { fake, runtime: started.runtime, logs: started.logs, webhook };
}

async function startFake(): Promise<FakeTelegram> {
  const f = new FakeTelegram();
  await f.start();
  return f;
}

function update(update_id: number, text: string) {
  return {
    update_id,
    message: { message_id: update_id, date: 1_700_000_000, chat: { id: 42, type: 'private', first_name: 'Alice' }, from: { id: 42, is_bot: false, first_name: 'Alice', username: 'alice' }, text },
  };
}

const texts = (f: FakeTelegram) => f.delivered().map((c) => c.params.text);

describe('telegram: durable delivery', () => {
  it('handles an update redelivered after a restart once: the second delivery is acknowledged and not answered', async () => {
    const storePath = tempStorePath();
    const first = await start({ mode: 'webhook', storePath });
    expect((await first.webhook(update(555, '/echo once'))).status).toBe(200);
    await waitFor(() => texts(first.fake).length === 1, 4000, 'the reply');
    await first.runtime.stop();

    const second = await start({ mode: 'webhook', storePath });
    expect((await second.webhook(update(555, '/echo once'))).status).toBe(200);
    // A later update of the same chat is handled after the redelivered one would have been.
    expect((await second.webhook(update(556, '/echo later'))).status).toBe(200);
    await waitFor(() => texts(second.fake).includes('later'), 4000, 'the reply to the later update');
    expect(texts(second.fake)).toEqual(['once', 'later']);
  });

  it('answers a webhook it cannot record with 503 and Retry-After, so Telegram delivers it again', async () => {
    const { runtime, webhook } = await start({ mode: 'webhook' });
    await runtime.store.close(); // the store can take no write from now on
    const res = await webhook(update(600, '/ping'));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
  });

  it('leaves a polled update it cannot record unconfirmed, so it is answered after a restart', async () => {
    const storePath = tempStorePath();
    const first = await start({ storePath });
    await first.fake.waitForCall('getUpdates');
    await first.runtime.store.close(); // the store can take no write from now on
    const id = first.fake.pushMessage({ text: '/echo kept' });
    const lost = await waitFor(() => {
      const lines = first.logs.filter((l) => l.msg === 'connection lost; reconnecting');
      return lines.length >= 2 && lines;
    }, 4000, 'the batch failing twice');
    expect(lost[0]!.err).toMatch(/could not record an update/);
    expect(lost.map((l) => l.attempt)).toEqual([1, 2]); // backing off, not spinning
    await first.runtime.stop();
    expect(first.fake.calls.filter((c) => c.method === 'getUpdates').every((c) => Number(c.params.offset ?? 0) <= id)).toBe(true);

    const second = await start({ storePath });
    await waitFor(() => texts(second.fake).length === 1, 4000, 'the reply after the restart');
    expect(texts(second.fake)).toEqual(['kept']);
  });

  it('sends a reply refused with 429 again after retry_after, and it arrives once', async () => {
    const { fake } = await start();
    fake.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 1', retry_after: 1 });
    fake.pushMessage({ text: '/ping' });
    await waitFor(() => fake.delivered().length === 1, 5000, 'the reply');
    const tries = fake.calls.filter((c) => c.method === 'sendMessage');
    expect(tries.map((c) => c.status)).toEqual([429, 200]);
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(texts(fake)).toEqual(['pong']);
  });

  it('keeps a reply refused with 400 as a dead letter at once, with a log line', async () => {
    const { fake, runtime, logs } = await start();
    fake.failNext('sendMessage', { error_code: 400, description: 'Bad Request: chat not found' });
    fake.pushMessage({ text: '/ping' });
    const line = await waitFor(() => logs.find((l) => l.msg === 'delivery failed'), 4000, 'the dead letter');
    expect(line).toMatchObject({ deadLetter: true, err: 'Telegram 400: Bad Request: chat not found' });
    const dead = await runtime.store.outbox.list('dead');
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ error: 'Telegram 400: Bad Request: chat not found', ids: [] });
    expect(fake.sent()).toHaveLength(1); // not tried again
  });

  it('completes a two-message reply whose second message failed with a 5xx, without sending the first again', async () => {
    const { fake } = await start();
    const words = Array.from({ length: 1000 }, (_, i) => `w${i}`).join(' '); // about 5,900 characters: two messages
    fake.failNext('sendMessage', { error_code: 502, description: 'Bad Gateway' }, 1, 1);
    fake.pushMessage({ text: `/echo ${words}` });
    await waitFor(() => fake.delivered().length === 2, 4000, 'both messages');
    const tries = fake.calls.filter((c) => c.method === 'sendMessage');
    expect(tries.map((c) => c.status)).toEqual([200, 502, 200]);
    const [part1, part2] = texts(fake);
    expect(`${part1} ${part2}`).toBe(words);
    expect(tries[1]!.params.text).toBe(part2);
    // Only the first message quotes the user, on the retry too.
    expect(tries.map((c) => c.params.reply_parameters !== undefined)).toEqual([true, false, false]);
  });
});
