// The fault drill itself, for any platform: the real CLI on the SQLite store, a bot that takes
// 0-2 s per message, `chats` chats each sending `perChat` messages (`inFlight` chats at a time,
// a chat's next message only once the platform saw the last one taken), and a SIGKILL at a
// random moment, `rounds` times, each followed by a restart. What the platform was told was
// taken and what users were sent is then judged (verdict.ts).

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { SwitchboardProcess } from './child.js';
import { judge, type Send, type Verdict } from './verdict.js';

export interface DrillPlatform {
  /** The `platforms:` entry of the config, one YAML line. */
  platform: string;
  /**
   * Hands one message of `chat` to Switchboard the way the platform does; true when the platform
   * would consider it taken (a 2xx, or for a gateway, once it is dispatched).
   */
  deliver(url: string, chat: number, text: string): Promise<boolean>;
  /** What users were sent so far, by chat id as `deliver` names chats. */
  sends(): Send[];
}

export interface DrillOptions {
  chats?: number;
  perChat?: number;
  inFlight?: number;
  rounds?: number;
  /** How long after a (re)start a kill may come, in ms: uniformly in [min, max]. */
  killAfter?: [number, number];
  /** The `store:` of the config, one YAML line; SQLite in the drill's folder by default. */
  store?: string;
  /** The bot module; by default one that answers each message with its text after 0-2 s (test/fixtures/drill-bot.ts). */
  bot?: string;
}

export interface DrillResult {
  verdict: Verdict;
  kills: { at: number; restartedAt: number }[];
  acked: Set<string>;
  sends: Send[];
  /** A line for the test's message on failure. */
  report: string;
}

const defaultBot = fileURLToPath(new URL('../fixtures/drill-bot.ts', import.meta.url));

export async function runDrill(platform: DrillPlatform, options: DrillOptions = {}): Promise<DrillResult> {
  const { chats = 100, perChat = 5, inFlight = 50, rounds = 5, killAfter = [300, 2000], store = '{ path: ./drill.db }', bot = defaultBot } = options;
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-drill-'));
  const config = join(dir, 'switchboard.yaml');
  await writeFile(config, [`bot: ${bot}`, 'server: { port: 0, shutdownTimeout: 5s }', `store: ${store}`, 'log: { level: info }', 'platforms:', `  - ${platform.platform}`, ''].join('\n'));
  let target = await SwitchboardProcess.start(config, dir);
  try {
    const expected = new Map<string, string[]>();
    const queue: { chat: number; texts: string[] }[] = [];
    for (let c = 0; c < chats; c++) {
      const chat = 1000 + c;
      const texts = Array.from({ length: perChat }, (_, i) => `c${chat}m${i}`);
      expected.set(String(chat), texts);
      queue.push({ chat, texts });
    }
    const acked = new Set<string>();
    let serving: Promise<void> = Promise.resolve();

    const deliverAll = async () => {
      const worker = async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          for (const text of next.texts) {
            while (!(await platform.deliver(target.url, next.chat, text).catch(() => false))) {
              await serving;
              await new Promise((r) => setTimeout(r, 20)); // not taken yet (no session, a request cut short): again, shortly
            }
            acked.add(text);
            await new Promise((r) => setTimeout(r, 20 + Math.random() * 200));
          }
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
    };

    const kills: { at: number; restartedAt: number }[] = [];
    const killer = async () => {
      for (let round = 0; round < rounds; round++) {
        await new Promise((r) => setTimeout(r, killAfter[0] + Math.random() * (killAfter[1] - killAfter[0])));
        let restarted!: () => void;
        serving = new Promise((r) => (restarted = r));
        const at = Date.now();
        await target.kill();
        target = await SwitchboardProcess.start(config, dir);
        kills.push({ at, restartedAt: Date.now() });
        restarted();
      }
    };

    await Promise.all([deliverAll(), killer()]);
    // After the last restart nothing more is killed: everything taken must be answered.
    const deadline = Date.now() + 60_000;
    const answered = () => new Set(platform.sends().map((s) => s.text)).size;
    while (answered() < acked.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const sends = platform.sends();
    const verdict = judge(sends, expected, acked, kills);
    const report = `kills at ${kills.map((k) => k.at).join(', ')}; ${acked.size} taken, ${sends.length} sent; doubles: ${JSON.stringify(verdict.doubled)}`;
    const code = await target.stop();
    if (code !== 0) throw new Error(`the last Switchboard exited with ${code} on SIGTERM:\n${target.output.slice(-3000)}`);
    return { verdict, kills, acked, sends, report };
  } finally {
    await target.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A gateway drill with the default load went as it must: every kill followed by a RESUME of the one
 * session (no second IDENTIFY), every message taken and answered once, each chat in order.
 */
export function expectResumedCleanly({ verdict, report, kills, acked }: DrillResult, gateway: { identifies: unknown[]; resumes: unknown[] }): void {
  expect(kills).toHaveLength(5);
  expect(acked.size).toBe(500);
  expect(gateway.identifies).toHaveLength(1);
  expect(gateway.resumes.length).toBeGreaterThanOrEqual(5);
  expect(verdict.lost, report).toEqual([]);
  expect(verdict.doubled, report).toEqual([]);
  expect(verdict.disordered, report).toEqual([]);
}

/**
 * The silent drill's bot (test/fixtures/drill-silent-bot.ts, which answers nothing) and what it
 * handled, as its file says: a line per run of its handler, repeats included. `chatOf` turns the
 * channel id it saw into the drill's chat; the texts are sent with a `silent ` prefix.
 */
export function silentBot(chatOf: (channelId: string) => string): { bot: string; sends: () => Send[] } {
  const handled = join(mkdtempSync(join(tmpdir(), 'switchboard-drill-silent-')), 'handled.log');
  process.env.DRILL_HANDLED_LOG = handled;
  const sends = () =>
    existsSync(handled)
      ? readFileSync(handled, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Send)
          .map(({ chat, text, at }) => ({ chat: chatOf(chat), text: text.replace(/^silent /, ''), at }))
      : [];
  return { bot: fileURLToPath(new URL('../fixtures/drill-silent-bot.ts', import.meta.url)), sends };
}
