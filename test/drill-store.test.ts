// Store faults, on the real CLI behind a Telegram webhook: a store file that is not a database,
// one that turns read-only, a full disk, a lock held by another process. What the platform sees
// is a 503 with Retry-After (never a 200 for an event that was not recorded), and once the store
// takes writes again the platform's redelivery is answered, once.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SwitchboardProcess } from './drill/child.js';
import { FakeTelegram } from './fakes/telegram-api.js';

const secret = 'store-drill';
const bot = fileURLToPath(new URL('./fixtures/drill-bot.ts', import.meta.url));
const fake = new FakeTelegram();
const cleanups: (() => Promise<void> | void)[] = [];
let proc: SwitchboardProcess | undefined;

afterEach(async () => {
  await proc?.kill();
  proc = undefined;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => fake.stop());

/** A config whose store lives in `storeDir`; the bot answers at once. */
async function configIn(dir: string, storeDir: string): Promise<string> {
  if (!fake.url) await fake.start();
  const config = join(dir, 'switchboard.yaml');
  await writeFile(
    config,
    [`bot: ${bot}`, 'server: { port: 0, retryAfter: 7s }', `store: { path: ${join(storeDir, 'switchboard.db')} }`, 'platforms:', `  - { id: tg, type: telegram, token: "${fake.token}", mode: webhook, secretToken: ${secret}, apiRoot: "${fake.url}" }`, ''].join('\n'),
  );
  return config;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-store-drill-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

let updateId = 5000;
/** An update for `text`; the same object delivered twice is Telegram's redelivery. */
const update = (text: string) => ({ update_id: ++updateId, message: { message_id: updateId, date: 1_700_000_000, chat: { id: 77, type: 'private', first_name: 'Ops' }, from: { id: 77, is_bot: false, first_name: 'Ops' }, text } });

async function post(body: object): Promise<Response> {
  return fetch(`${proc!.url}/webhooks/tg`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret }, body: JSON.stringify(body) });
}

const answers = (text: string) => fake.delivered().filter((c) => c.params.text === text).length;

async function answered(text: string): Promise<void> {
  await fake.waitForCall('sendMessage', (c) => c.params.text === text, 10_000);
}

/** Redelivers until the platform gets a 2xx, as Telegram does after a 503; returns the statuses seen. */
async function redeliver(body: object, until: number): Promise<number[]> {
  const statuses: number[] = [];
  while (Date.now() < until) {
    const res = await post(body);
    statuses.push(res.status);
    if (res.ok) return statuses;
    await new Promise((r) => setTimeout(r, 100));
  }
  return statuses;
}

/** Runs a store fault against a running Switchboard: `breakIt` before, `fixIt` after a webhook that must get 503. */
async function faultDrill(name: string, storeDir: string, breakIt: () => void | Promise<void>, fixIt: () => void | Promise<void>): Promise<void> {
  const config = await configIn(tempDir(), storeDir);
  proc = await SwitchboardProcess.start(config, storeDir);
  const [beforeText, duringText] = [`${name}: before the fault`, `${name}: during the fault`];
  const before = update(beforeText);
  expect((await post(before)).status).toBe(200);
  await answered(beforeText);

  await breakIt();
  const during = update(duringText);
  const refused = await post(during);
  expect(refused.status).toBe(503);
  expect(refused.headers.get('retry-after')).toBe('7');
  await proc.waitForLine((l) => l.includes('could not record an event'), 5000, 'the log line for the event not recorded');

  await fixIt();
  const statuses = await redeliver(during, Date.now() + 10_000);
  expect(statuses.at(-1)).toBe(200);
  await answered(duringText);
  // The first delivery, redelivered after the fault: still a duplicate.
  expect((await post(before)).status).toBe(200);
  expect(await proc.stop()).toBe(0);
  expect([answers(beforeText), answers(duringText)]).toEqual([1, 1]);
  expect(proc.output).not.toContain(fake.token);
}

describe('store faults on the real CLI', () => {
  it('a file that is not a database: a clear error naming it and the way out, exit 1, and the same again on retry; once moved aside, it starts', async () => {
    const dir = tempDir();
    const config = await configIn(dir, dir);
    writeFileSync(join(dir, 'switchboard.db'), 'PK\u0003\u0004 not a database at all '.repeat(200));
    for (let attempt = 0; attempt < 2; attempt++) {
      const failed = await SwitchboardProcess.start(config, dir).then(
        () => undefined,
        (error: Error) => error.message,
      );
      expect(failed).toMatch(/exited \(1\)/);
      expect(failed).toContain(`Cannot start: the store file ${join(dir, 'switchboard.db')} is not a usable SQLite database`);
      expect(failed).toContain(`mv ${join(dir, 'switchboard.db')} ${join(dir, 'switchboard.db')}.broken-`);
      expect(failed).not.toMatch(/\n\s+at /); // no stack trace
    }
    execFileSync('mv', [join(dir, 'switchboard.db'), join(dir, 'switchboard.db.broken')]);
    proc = await SwitchboardProcess.start(config, dir);
    expect((await post(update('after moving it aside'))).status).toBe(200);
    await answered('after moving it aside');
  }, 60_000);

  it('a store that turns read-only: 503 with Retry-After while it is, and the redelivery is taken once it is writable', async () => {
    const dir = tempDir();
    const files = [join(dir, 'switchboard.db'), join(dir, 'switchboard.db-wal')];
    // The immutable flag refuses writes even on files already open, as a disk remounted read-only after an error does.
    const immutable = (on: boolean) => {
      const present = files.filter((f) => existsSync(f));
      if (present.length > 0) execFileSync('chattr', [on ? '+i' : '-i', ...present]);
    };
    cleanups.push(() => immutable(false));
    await faultDrill('read-only', dir, () => immutable(true), () => immutable(false));
  }, 60_000);

  it('a full disk: 503 with Retry-After while it is, and the redelivery is taken once there is room', async () => {
    const mountpoint = tempDir();
    // A small disk of its own (needs root, as CI has): filled up by another file.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mountpoint]);
    cleanups.push(() => void execFileSync('umount', ['-l', mountpoint]));
    const storeDir = join(mountpoint, 'store');
    await mkdir(storeDir);
    const filler = join(mountpoint, 'filler');
    await faultDrill(
      'disk full',
      storeDir,
      () => {
        try {
          execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
        } catch {
          // dd ends with "No space left on device": that is the point
        }
      },
      () => rm(filler),
    );
  }, 60_000);

  it('a lock held by another process: 503 with Retry-After while it is held, and the redelivery is taken once it is released', async () => {
    const dir = tempDir();
    let holder: Database.Database | undefined;
    cleanups.push(() => void holder?.close());
    await faultDrill(
      'locked',
      dir,
      () => {
        holder = new Database(join(dir, 'switchboard.db'));
        holder.exec('BEGIN EXCLUSIVE');
      },
      () => {
        holder!.exec('COMMIT');
        holder!.close();
        holder = undefined;
      },
    );
  }, 60_000);
});
