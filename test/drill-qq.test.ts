// Fault drill on QQ's websocket gateway: the real CLI on SQLite connected to a fake QQ, SIGKILLed
// at random moments while 500 group messages from 100 groups arrive. A killed process cannot close
// its session, so the next one RESUMEs the session it kept, from the last event acknowledged, and
// QQ replays the rest. Replies are passive, and their msg_seq comes from the outbox key, so a reply
// sent again after a kill is turned away by QQ (40054005): nothing lost, no user sees it twice.
// The silent drill: a bot that replies to nothing, so its events are acknowledged once handled and
// leave no trace in the store (src/pipeline/replayable.ts); what it handled is a file it appends to.

import { afterAll, describe, expect, it } from 'vitest';
import { expectResumedCleanly, runDrill, silentBot, type DrillPlatform } from './drill/run.js';
import { FakeQQ, groupAt } from './fakes/qq.js';

let fake: FakeQQ | undefined;
afterAll(() => fake?.stop());

const groupOf = (chat: number) => `G${chat}`;

function platform(f: FakeQQ, prefix = ''): Pick<DrillPlatform, 'platform' | 'deliver'> {
  return {
    platform: `{ id: qq, type: qq, appId: "${f.appId}", appSecret: "${f.appSecret}", mode: websocket, apiRoot: "${f.url}", tokenUrl: "${f.url}/app/getAppAccessToken" }`,
    // A gateway event is QQ's to replay: once dispatched (or kept for the session's replay) it is taken.
    deliver: async (_url, chat, text) => {
      const event = groupAt(`${prefix}${text}`, { group: groupOf(chat), member: `M${chat}` });
      f.gateway.push(event.t, event.d, event.id);
      return true;
    },
  };
}

describe('drill: SIGKILL under load, QQ gateway, SQLite store', () => {
  it('resumes the kept gateway session after every kill, loses no message and shows no reply twice', async () => {
    const f = (fake = await new FakeQQ().start());
    const result = await runDrill({
      ...platform(f),
      sends: () => f.sent.map((m) => ({ chat: m.target.slice(1), text: String(m.body.content), at: m.at })),
    });
    const { kills, acked } = result;
    // Each restart resumed the session instead of identifying afresh (one IDENTIFY in all).
    expectResumedCleanly(result, f.gateway);
    console.log(`qq drill: ${kills.length} kills, ${f.gateway.resumes.length} resumes; ${acked.size} messages, all answered, none twice; ${f.deduplicated} replies sent again after a kill and turned away by QQ as repeats`);
    await f.stop();
    fake = undefined;
  }, 240_000);
});

describe('drill: SIGKILL under load, QQ gateway, a bot that replies to nothing', () => {
  it('acknowledges an event only once handled: after every kill the replay brings back whatever was cut off, and nothing is lost', async () => {
    const f = (fake = await new FakeQQ().start());
    const silent = silentBot((channelId) => channelId.replace(/^group:G/, ''));
    const result = await runDrill({ ...platform(f, 'silent '), sends: silent.sends }, { bot: silent.bot });
    const { verdict, report, kills, acked } = result;
    expect(kills).toHaveLength(5);
    expect(acked.size).toBe(500);
    expect(f.sent).toEqual([]);
    expect(f.gateway.identifies).toHaveLength(1);
    expect(verdict.lost, report).toEqual([]);
    // A handler cut off by a kill before its event was acknowledged runs again (at least once): a repeat needs a kill to explain it.
    expect(verdict.unexplained, report).toEqual([]);
    console.log(`qq silent drill: ${kills.length} kills; ${acked.size} messages, all handled; ${verdict.doubled.length} handled again after a kill cut them off`);
  }, 240_000);
});
