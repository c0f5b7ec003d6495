// State survives a restart: a counter bot run by the real CLI on the default SQLite store, asked
// over the HTTP endpoint, stopped (and killed) and started again, counts on.

import { mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SwitchboardProcess } from './drill/child.js';

const KEY = 'restart-key-0123456789';
const bot = fileURLToPath(new URL('./fixtures/counter-bot.ts', import.meta.url));
let proc: SwitchboardProcess | undefined;
let dir: string | undefined;

afterEach(async () => {
  await proc?.kill();
  proc = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function count(user: string): Promise<string> {
  const res = await fetch(`${proc!.url}/api/plug/v1/chat`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify({ type: 'text', query: '/count', sender_id: user }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { content: string }[] }).data.map((d) => d.content).join('\n');
}

describe('state across restarts of the CLI (sqlite)', () => {
  it('counts on after a stop and after a SIGKILL', async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-state-'));
    const config = join(dir, 'switchboard.yaml');
    // No store key: the default, a SQLite file, here under the config's folder.
    await writeFile(config, [`bot: ${bot}`, 'server: { port: 0 }', `store: { path: ./data/switchboard.db }`, 'platforms:', `  - { id: api, type: http, apiKey: "${KEY}", keyFile: ./api-key.json }`, ''].join('\n'));

    proc = await SwitchboardProcess.start(config, dir);
    expect([await count('ann'), await count('ann'), await count('bob')]).toEqual(['count 1', 'count 2', 'count 1']);
    expect(await proc.stop()).toBe(0);

    proc = await SwitchboardProcess.start(config, dir);
    expect([await count('ann'), await count('bob')]).toEqual(['count 3', 'count 2']);
    // An answer is sent only after its count is committed: a crash right after it loses nothing.
    await proc.kill();

    proc = await SwitchboardProcess.start(config, dir);
    expect(await count('ann')).toBe('count 4');
  }, 90_000);
});
