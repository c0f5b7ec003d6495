// Dead letters as an operator meets them: a reply the platform refuses is kept, `switchboard
// outbox list` shows it with its error, `retry` has the running Switchboard send it, `drop`
// forgets one, and a mistake gets a clear answer.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { SwitchboardProcess } from './drill/child.js';
import { FakeTelegram } from './fakes/telegram-api.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/switchboard.js', import.meta.url));
const secret = 'outbox-secret';
const fake = new FakeTelegram();
let proc: SwitchboardProcess | undefined;
let dir = '';
afterAll(async () => {
  await proc?.kill();
  await fake.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function outbox(config: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, 'outbox', ...args, '--config', config]);
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, out: failed.stdout, err: failed.stderr };
  }
}

let updateId = 700;
async function post(text: string): Promise<void> {
  const id = ++updateId;
  const body = JSON.stringify({ update_id: id, message: { message_id: id, date: 1_700_000_000, chat: { id: 55, type: 'private', first_name: 'Ops' }, from: { id: 55, is_bot: false, first_name: 'Ops' }, text } });
  const res = await fetch(`${proc!.url}/webhooks/tg`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret } });
  expect(res.status).toBe(200);
}

describe('switchboard outbox', () => {
  it('lists a dead letter with its error, sends it again on retry, drops one on drop', async () => {
    await fake.start();
    dir = await mkdtemp(join(tmpdir(), 'switchboard-outbox-'));
    const config = join(dir, 'switchboard.yaml');
    const bot = fileURLToPath(new URL('./fixtures/drill-bot.ts', import.meta.url));
    await writeFile(config, [`bot: ${bot}`, 'server: { port: 0 }', 'platforms:', `  - { id: tg, type: telegram, token: "${fake.token}", mode: webhook, secretToken: ${secret}, apiRoot: "${fake.url}" }`, ''].join('\n'));
    proc = await SwitchboardProcess.start(config, dir, { DRILL_MAX_WORK_MS: '0' });
    expect(await outbox(config, 'list')).toMatchObject({ code: 0, out: 'No dead letters.\n' });

    fake.failNext('sendMessage', { error_code: 400, description: 'Bad Request: chat not found' }, 2);
    await post('first refused');
    await post('second refused');
    // One log line per dead letter.
    await proc.waitForLine(() => proc!.output.split('\n').filter((l) => l.includes('"msg":"delivery failed"') && l.includes('"deadLetter":true')).length === 2, 10_000, 'two dead letter log lines');
    const listed = await outbox(config, 'list');
    expect(listed.code).toBe(0);
    expect(listed.out).toContain('"first refused"');
    expect(listed.out).toContain('"second refused"');
    expect(listed.out).toContain('error: Telegram 400: Bad Request: chat not found');
    expect(listed.out).toContain('tg/55');
    const [first, second] = [...listed.out.matchAll(/^(\S+:\d+)\s+dead/gm)].map((m) => m[1]!);
    expect(first && second).toBeTruthy();

    // The chat exists again: the operator sends the first one, and forgets the second.
    expect(await outbox(config, 'retry', first!)).toMatchObject({ code: 0 });
    await fake.waitForCall('sendMessage', (c) => c.params.text === 'first refused' && c.status === 200, 10_000);
    expect(await outbox(config, 'drop', second!)).toMatchObject({ code: 0, out: `${second}: dropped.\n` });
    expect((await outbox(config, 'list')).out).toBe('No dead letters.\n');
    expect(fake.delivered().map((c) => c.params.text)).toEqual(['first refused']);

    // Mistakes get an answer, not a stack.
    const unknown = await outbox(config, 'retry', 'no-such:0');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('no item no-such:0 in the outbox');
    const usage = await outbox(config, 'resend');
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('Usage: switchboard outbox');
  }, 60_000);
});
