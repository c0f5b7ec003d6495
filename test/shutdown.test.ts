import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeTelegram } from './fakes/telegram-api.js';
import { sleep, waitFor } from './helpers.js';

const root = join(import.meta.dirname, '..');
let fake: FakeTelegram | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

describe('graceful shutdown', () => {
  it('on SIGTERM stops polling, finishes the in-flight reply, then exits 0', async () => {
    fake = new FakeTelegram();
    await fake.start();
    const dir = await mkdtemp(join(tmpdir(), 'sb-stop-'));
    const config = join(dir, 'sb.yaml');
    await writeFile(config, `server: { port: 0 }\nbot: ${join(root, 'test/fixtures/slow-bot.ts')}\nplatforms:\n  - { id: tg, type: telegram, token: "\${TG_TOKEN}", apiRoot: "${fake.url}", pollTimeout: 1 }\n`);
    const child = spawn(process.execPath, [join(root, 'bin/switchboard.js'), 'start', '--config', config], { cwd: dir, env: { ...process.env, TG_TOKEN: fake.token }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

    await fake.waitForCall('getUpdates', undefined, 10_000);
    const id = fake.pushMessage({ text: '/slow' });
    // the update has been taken once a poll asks for the offset after it
    await fake.waitForCall('getUpdates', (c) => Number(c.params.offset) === id + 1, 5000);
    child.kill('SIGTERM');
    const code = await exited;

    expect(code).toBe(0);
    expect(fake.sent().map((c) => c.params.text)).toEqual(['finished after all']);
    expect(output).toContain('stopping: finishing in-flight messages');
    expect(output).toContain('switchboard stopped');
    expect(output).not.toContain(fake.token.split(':')[1]!);
    const polls = fake.calls.filter((c) => c.method === 'getUpdates').length;
    await sleep(200);
    expect(fake.calls.filter((c) => c.method === 'getUpdates').length).toBe(polls);
  }, 20_000);

  it('starts with no config at all: the sandbox answers on the port PORT names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-default-'));
    const child = spawn(process.execPath, [join(root, 'bin/switchboard.js'), 'start'], { cwd: dir, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const url = await waitFor(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)","platforms"/.exec(output)?.[1], 10_000, 'the started line');
    const posted = await fetch(`${url}/sandbox/sandbox/api/messages`, { method: 'POST', body: JSON.stringify({ user: { id: 'a', name: 'A' }, chat: { id: 'dm:a', type: 'direct' }, text: '/ping' }) });
    expect(posted.status).toBe(202);
    const history = await waitFor(async () => {
      const { messages } = (await (await fetch(`${url}/sandbox/sandbox/api/chats/dm:a/messages`)).json()) as { messages: { segments: unknown[] }[] };
      return messages.length === 2 && messages;
    });
    expect(history[1]!.segments).toEqual([{ type: 'text', text: 'pong' }]);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 20_000);
});
