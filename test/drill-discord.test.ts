// Fault drill on a gateway: the real CLI on SQLite connected to a fake Discord, SIGKILLed at random
// moments while 500 messages from 100 DM channels arrive and the bot takes 0-2 s each. A killed
// process cannot close its session, so the next one RESUMEs it from the last event it recorded and
// Discord replays the rest; replies carry a nonce made from their outbox key (enforce_nonce), so a
// send repeated after a kill is recognised by Discord: nothing lost, no user sees a reply twice.
// The silent drill: a bot that replies to nothing, so its events are acknowledged once handled and
// leave no trace in the store (src/pipeline/replayable.ts); what it handled is a file it appends to.

import { afterAll, describe, expect, it } from 'vitest';
import { expectResumedCleanly, runDrill, silentBot } from './drill/run.js';
import { directMessage, FakeDiscord, token } from './fakes/discord.js';

const fake = new FakeDiscord();
afterAll(() => fake.stop());

const channelOf = (chat: number) => `5${String(chat).padStart(17, '0')}`;

describe('drill: SIGKILL under load, Discord gateway, SQLite store', () => {
  it('resumes the gateway session after every kill, loses no message and shows no reply twice', async () => {
    await fake.start();
    const result = await runDrill({
      platform: `{ id: dc, type: discord, token: "${token}", apiRoot: "${fake.url}" }`,
      // A gateway event is Discord's to replay: once dispatched (or kept for the session's replay) it is taken.
      deliver: async (_url, chat, text) => {
        fake.gateway.push('MESSAGE_CREATE', directMessage(fake, text, { channel: channelOf(chat), author: { id: `6${String(chat).padStart(17, '0')}`, username: `user${chat}` } }));
        return true;
      },
      sends: () => fake.sent.map((m) => ({ chat: String(Number(m.channelId.slice(1))), text: String(m.body.content), at: m.at })),
    });
    const { kills, acked } = result;
    const repeats = fake.calls.filter((c) => c.method === 'POST' && c.nonce !== undefined).length - fake.sent.length;
    // Each restart resumed the session instead of identifying afresh (one IDENTIFY in all).
    expectResumedCleanly(result, fake.gateway);
    console.log(`discord drill: ${kills.length} kills, ${fake.gateway.resumes.length} resumes; ${acked.size} messages, all answered, none twice; ${repeats} sends repeated after a kill and recognised by their nonce`);
  }, 240_000);
});

describe('drill: SIGKILL under load, Discord gateway, a bot that replies to nothing', () => {
  it('acknowledges an event only once handled: after every kill the replay brings back whatever was cut off, and nothing is lost', async () => {
    await fake.start();
    const silent = silentBot((channelId) => String(Number(channelId.slice(1))));
    const sentBefore = fake.sent.length;
    const result = await runDrill(
      {
        platform: `{ id: dc, type: discord, token: "${token}", apiRoot: "${fake.url}" }`,
        deliver: async (_url, chat, text) => {
          fake.gateway.push('MESSAGE_CREATE', directMessage(fake, `silent ${text}`, { channel: channelOf(chat), author: { id: `6${String(chat).padStart(17, '0')}`, username: `user${chat}` } }));
          return true;
        },
        sends: silent.sends,
      },
      { bot: silent.bot },
    );
    const { verdict, report, kills, acked } = result;
    expect(kills).toHaveLength(5);
    expect(acked.size).toBe(500);
    expect(fake.sent.length).toBe(sentBefore);
    expect(verdict.lost, report).toEqual([]);
    // A handler cut off by a kill before its event was acknowledged runs again (at least once): a repeat needs a kill to explain it.
    expect(verdict.unexplained, report).toEqual([]);
    console.log(`discord silent drill: ${kills.length} kills; ${acked.size} messages, all handled; ${verdict.doubled.length} handled again after a kill cut them off`);
  }, 240_000);
});
