// Shutdown keeps to server.shutdownTimeout, whatever is still running, and leaves what it could
// not finish in the store: the next start finishes it, once.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SwitchboardProcess } from './drill/child.js';
import { FakeTelegram } from './fakes/telegram-api.js';

const secret = 'stop-secret';
const fake = new FakeTelegram();
const dirs: string[] = [];
let proc: SwitchboardProcess | undefined;
afterAll(async () => {
  await proc?.kill();
  await fake.stop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function setup(): Promise<{ dir: string; config: string }> {
  if (!fake.url) await fake.start();
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-stop-'));
  dirs.push(dir);
  const config = join(dir, 'switchboard.yaml');
  const bot = fileURLToPath(new URL('./fixtures/stuck-bot.ts', import.meta.url));
  await writeFile(config, [`bot: ${bot}`, 'server: { port: 0, shutdownTimeout: 2s }', 'platforms:', `  - { id: tg, type: telegram, token: "${fake.token}", mode: webhook, secretToken: ${secret}, apiRoot: "${fake.url}" }`, ''].join('\n'));
  return { dir, config };
}

let updateId = 900;
async function post(text: string, chat = 31): Promise<number> {
  const id = ++updateId;
  const body = JSON.stringify({ update_id: id, message: { message_id: id, date: 1_700_000_000, chat: { id: chat, type: 'private', first_name: 'Stop' }, from: { id: chat, is_bot: false, first_name: 'Stop' }, text } });
  return (await fetch(`${proc!.url}/webhooks/tg`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret } })).status;
}

/** SIGTERM, and how long the process took to exit. */
async function timedStop(): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const code = await proc!.stop();
  return { code, ms: Date.now() - started };
}

describe('shutdown within server.shutdownTimeout', () => {
  it('exits in time with a handler still running, and the next start finishes that message, once', async () => {
    const { dir, config } = await setup();
    proc = await SwitchboardProcess.start(config, dir, { STUCK: '1' });
    expect(await post('stuck in the handler')).toBe(200);
    const { code, ms } = await timedStop();
    expect(code).toBe(0);
    expect(ms).toBeLessThan(2000 + 1000);
    expect(proc.output).toContain('unfinished messages stay in the store');
    expect(fake.delivered()).toHaveLength(0);

    proc = await SwitchboardProcess.start(config, dir);
    await fake.waitForCall('sendMessage', (c) => c.params.text === 'stuck in the handler: done', 10_000);
    expect((await timedStop()).code).toBe(0);
    expect(fake.delivered().filter((c) => c.params.text === 'stuck in the handler: done')).toHaveLength(1);
  }, 60_000);

  it("exits in time with a reply waiting out Telegram's retry_after, and the next start sends it, once", async () => {
    const { dir, config } = await setup();
    proc = await SwitchboardProcess.start(config, dir);
    fake.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 60', retry_after: 60 });
    expect(await post('told to wait', 32)).toBe(200);
    await fake.waitForCall('sendMessage', (c) => c.params.text === 'told to wait: done', 10_000);
    const { code, ms } = await timedStop();
    expect(code).toBe(0);
    expect(ms).toBeLessThan(2000 + 1000);
    const tries = fake.calls.filter((c) => c.method === 'sendMessage' && c.params.text === 'told to wait: done').length;
    expect(tries).toBe(1); // the 429; the wait was cut short by the shutdown

    proc = await SwitchboardProcess.start(config, dir);
    await fake.waitForCall('sendMessage', (c) => c.params.text === 'told to wait: done' && fake.calls.filter((x) => x.params.text === c.params.text).length === 2, 10_000);
    expect((await timedStop()).code).toBe(0);
    // Two tries in all (the refused one, the one after the restart); the chat shows it once.
    expect(fake.sent().filter((c) => c.params.text === 'told to wait: done')).toHaveLength(2);
    expect(fake.delivered().filter((c) => c.params.text === 'told to wait: done')).toHaveLength(1);
  }, 60_000);
});
