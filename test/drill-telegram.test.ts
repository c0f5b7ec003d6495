// Fault drill: the real CLI on SQLite behind a Telegram webhook, SIGKILLed at random moments
// while 500 updates from 100 chats arrive (50 in flight) and the bot takes 0-2 s per message; the
// fake redelivers every update that got no 2xx, as Telegram does. Telegram takes no idempotency
// key, so an item whose send was in flight at a kill may be answered twice: counted, at most one
// per chat per kill, and nothing else.

import { afterAll, describe, expect, it } from 'vitest';
import { runDrill } from './drill/run.js';
import { FakeTelegram } from './fakes/telegram-api.js';

const secret = 'drill-secret';
const fake = new FakeTelegram();
afterAll(() => fake.stop());

describe('drill: SIGKILL under load, Telegram webhook, SQLite store', () => {
  it('loses nothing it acknowledged, doubles only what was in flight at a kill, and keeps each chat in order', async () => {
    await fake.start();
    const result = await runDrill({
      platform: `{ id: tg, type: telegram, token: "${fake.token}", mode: webhook, secretToken: ${secret}, apiRoot: "${fake.url}" }`,
      deliver: async (url, chat, text) => {
        const id = chat * 10 + Number(/m(\d+)$/.exec(text)![1]); // the same update_id on every redelivery
        const body = JSON.stringify({ update_id: id, message: { message_id: id, date: 1_700_000_000, chat: { id: chat, type: 'private', first_name: 'Drill' }, from: { id: chat, is_bot: false, first_name: 'Drill' }, text } });
        const res = await fetch(`${url}/webhooks/tg`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret } });
        await res.arrayBuffer();
        return res.ok;
      },
      sends: () => fake.delivered().map((c) => ({ chat: c.params.chat_id!, text: c.params.text!, at: c.at })),
    });
    const { verdict, report, kills, acked } = result;
    expect(kills).toHaveLength(5);
    expect(acked.size).toBe(500);
    expect(verdict.lost, report).toEqual([]);
    expect(verdict.unexplained, report).toEqual([]);
    expect(verdict.crowdedKills, report).toEqual([]);
    expect(verdict.disordered, report).toEqual([]);
    console.log(`telegram drill: ${kills.length} kills; ${acked.size} updates acknowledged, all answered; ${verdict.doubled.length} answered twice (each in flight at a kill)`);
  }, 240_000);
});
