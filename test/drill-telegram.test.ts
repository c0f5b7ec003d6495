// Fault drill: the real CLI with the SQLite store behind a Telegram webhook, killed with SIGKILL
// at random moments while 500 updates from 100 chats arrive (50 in flight) and a bot takes 0-2 s
// per message. The fake platform redelivers every update that got no 2xx, as Telegram does.
// Counted: updates acknowledged but never answered (must be none), answers sent twice (only an
// item whose send was in flight at a kill, at most one per chat per kill), per-chat order.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { SwitchboardProcess } from './drill/child.js';
import { judge } from './drill/verdict.js';
import { FakeTelegram } from './fakes/telegram-api.js';

const chats = 100;
const perChat = 5;
const inFlight = 50;
const rounds = 5;
const secret = 'drill-secret';
const bot = fileURLToPath(new URL('./fixtures/drill-bot.ts', import.meta.url));

let fake: FakeTelegram | undefined;
let dir = '';
let current: SwitchboardProcess | undefined;

afterAll(async () => {
  await current?.kill();
  await fake?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('drill: SIGKILL under load, Telegram webhook, SQLite store', () => {
  it('loses nothing it acknowledged, doubles only what was in flight at a kill, and keeps each chat in order', async () => {
    fake = new FakeTelegram();
    await fake.start();
    dir = await mkdtemp(join(tmpdir(), 'switchboard-drill-'));
    const config = join(dir, 'switchboard.yaml');
    await writeFile(
      config,
      [
        `bot: ${bot}`,
        'server: { port: 0, shutdownTimeout: 5s }',
        'store: { path: ./drill.db }',
        'log: { level: info }',
        'platforms:',
        `  - { id: tg, type: telegram, token: "${fake.token}", mode: webhook, secretToken: ${secret}, apiRoot: "${fake.url}" }`,
        '',
      ].join('\n'),
    );

    // Each chat's updates, in the order Telegram would deliver them.
    const expected = new Map<string, string[]>();
    const queue: { chat: number; texts: string[] }[] = [];
    let updateId = 1;
    const updates = new Map<string, number>();
    for (let c = 0; c < chats; c++) {
      const chat = 1000 + c;
      const texts = Array.from({ length: perChat }, (_, i) => `c${chat}m${i}`);
      for (const text of texts) updates.set(text, updateId++);
      expected.set(String(chat), texts);
      queue.push({ chat, texts });
    }
    const acked = new Set<string>();
    let target = await SwitchboardProcess.start(config, dir);
    current = target;
    let serving: Promise<void> = Promise.resolve();
    let agent = new Agent({ connections: inFlight });

    /** One webhook POST, as Telegram makes it; true when answered 2xx. */
    const post = async (chat: number, text: string): Promise<boolean> => {
      const body = JSON.stringify({
        update_id: updates.get(text),
        message: { message_id: updates.get(text), date: 1_700_000_000, chat: { id: chat, type: 'private', first_name: 'Drill' }, from: { id: chat, is_bot: false, first_name: 'Drill' }, text },
      });
      try {
        const res = await request(`${target.url}/webhooks/tg`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret }, dispatcher: agent });
        await res.body.dump();
        return res.statusCode >= 200 && res.statusCode < 300;
      } catch {
        return false; // the process died under the request: no answer, so it is delivered again
      }
    };

    // 50 chats at a time; within a chat, update n+1 only once n was taken, as Telegram keeps a chat's order.
    const deliverAll = async () => {
      const worker = async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          for (const text of next.texts) {
            while (!(await post(next.chat, text))) await serving;
            acked.add(text);
            await new Promise((r) => setTimeout(r, 20 + Math.random() * 200));
          }
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
    };

    const kills: { at: number; restartedAt: number }[] = [];
    const killer = (async () => {
      for (let round = 0; round < rounds; round++) {
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 1700));
        let restarted!: () => void;
        serving = new Promise((r) => (restarted = r));
        const at = Date.now();
        await target.kill();
        void agent.destroy();
        agent = new Agent({ connections: inFlight });
        target = await SwitchboardProcess.start(config, dir);
        current = target;
        kills.push({ at, restartedAt: Date.now() });
        restarted();
      }
    })();

    await Promise.all([deliverAll(), killer]);
    expect(acked.size).toBe(chats * perChat);
    // After the last restart nothing more is killed: everything acknowledged must be answered.
    const answered = () => new Set(fake!.sent().map((c) => c.params.text)).size;
    const deadline = Date.now() + 60_000;
    while (answered() < acked.size && Date.now() < deadline) await fake.waitForCall('sendMessage', () => answered() >= acked.size, 5000).catch(() => undefined);

    const sends = fake.sent().map((c) => ({ chat: c.params.chat_id!, text: c.params.text!, at: c.at }));
    const verdict = judge(sends, expected, acked, kills);
    const report = `kills at ${kills.map((k) => k.at).join(', ')}; ${sends.length} sends; doubles: ${JSON.stringify(verdict.doubled)}`;
    expect(verdict.lost, report).toEqual([]);
    expect(verdict.unexplained, report).toEqual([]);
    expect(verdict.crowdedKills, report).toEqual([]);
    expect(verdict.disordered, report).toEqual([]);
    expect(kills).toHaveLength(rounds);
    console.log(`telegram drill: ${rounds} kills, ${acked.size} updates acknowledged and answered, ${verdict.doubled.length} answered twice (in flight at a kill)`);
    expect(await target.stop()).toBe(0);
  }, 240_000);
});
