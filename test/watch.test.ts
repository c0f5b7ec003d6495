// `switchboard start --watch`, the real CLI against the Telegram fake (long polling): an edited bot
// answers the next message while the polling session and the in-flight message go on undisturbed.

import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SwitchboardProcess } from './drill/child.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { waitFor } from './helpers.js';

const switchboard = pathToFileURL(join(import.meta.dirname, '../src/index.ts')).href;

/** /word answers what words.ts exports; /slow answers it too, once the test creates the file `release`. */
const botSource = (setup = '') => `import { existsSync } from 'node:fs';
import { defineBot } from '${switchboard}';
import { word } from './words.js';

export default defineBot((bot) => {
  ${setup}
  bot.command('word', () => word);
  bot.command('slow', async (ctx) => {
    ctx.log.info('slow started');
    while (!existsSync(new URL('./release', import.meta.url))) await new Promise((r) => setTimeout(r, 10));
    return 'slow ' + word;
  });
});
`;

/** As many editors save: a new file renamed over the old one, so no reload can read it half written. */
async function save(path: string, text: string): Promise<void> {
  await writeFile(`${path}.saving`, text);
  await rename(`${path}.saving`, path);
}

let fake: FakeTelegram | undefined;
let proc: SwitchboardProcess | undefined;
afterEach(async () => {
  await proc?.stop();
  await fake?.stop();
  proc = undefined;
  fake = undefined;
});

describe('start --watch', () => {
  it('swaps the bot on a change without a new polling session; a broken bot is reported and the old one answers', async () => {
    fake = new FakeTelegram();
    await fake.start();
    const dir = await mkdtemp(join(tmpdir(), 'sb-watch-'));
    await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
    await writeFile(join(dir, 'words.ts'), "export const word = 'one';\n");
    await writeFile(join(dir, 'bot.ts'), botSource());
    await writeFile(join(dir, 'sb.yaml'), `server: { port: 0 }\nstore: { type: memory }\nbot: ./bot.ts\nplatforms:\n  - { id: tg, type: telegram, token: "\${TG_TOKEN}", apiRoot: "${fake.url}", pollTimeout: 1 }\n`);
    const sb = (proc = await SwitchboardProcess.start(join(dir, 'sb.yaml'), dir, { TG_TOKEN: fake.token }, 30_000, ['--watch']));
    const tg = fake;
    const ask = async (text: string) => {
      const before = tg.sent().length;
      tg.pushMessage({ text });
      return (await waitFor(() => tg.sent()[before], 10_000, `an answer to ${text}`)).params.text;
    };
    const lines = (match: string) => sb.output.split('\n').filter((l) => l.includes(match));
    const reloads = (n: number) => waitFor(() => lines('"msg":"bot reloaded"').length >= n && lines('"msg":"bot reloaded"')[n - 1], 10_000, `reload ${n}`);
    const failures = (n: number) => waitFor(() => lines('"msg":"bot reload failed').length >= n && lines('"msg":"bot reload failed')[n - 1], 10_000, `failed reload ${n}`);

    expect(await ask('/word')).toBe('one');
    // What is watched: the bot's module and what it imports from its folder; not Switchboard's modules it imports too.
    const watching = JSON.parse(await sb.waitForLine((l) => l.includes('"msg":"watching the bot'), 1000, 'the watching line')) as { watching: string[] };
    expect(watching.watching.sort()).toEqual(['bot.ts', 'words.ts']);
    const sessions = () => tg.calls.filter((c) => c.method === 'deleteWebhook' || c.method === 'getMe').length;
    const opened = sessions();

    // A file the bot imports changes: the next message meets the new bot.
    await save(join(dir, 'words.ts'), "export const word = 'two';\n");
    expect(JSON.parse(await reloads(1))).toMatchObject({ level: 30, changed: ['words.ts'], file: join(dir, 'bot.ts') });
    expect(await ask('/word')).toBe('two');

    // A message being handled during a reload finishes with the bot it started with.
    tg.pushMessage({ text: '/slow' });
    await sb.waitForLine((l) => l.includes('"msg":"slow started"'), 10_000, 'the slow handler');
    await save(join(dir, 'words.ts'), "export const word = 'three';\n");
    await reloads(2);
    await writeFile(join(dir, 'release'), '');
    await waitFor(() => tg.sent().length === 3, 10_000, 'the slow answer');
    expect(tg.sent()[2]!.params.text).toBe('slow two');
    expect(await ask('/word')).toBe('three');

    // A syntax error: reported with the file and where, and the last good bot goes on answering.
    await save(join(dir, 'words.ts'), "export const word = 'four;\n");
    const syntax = JSON.parse(await failures(1)) as { level: number; changed: string[]; err: { message: string } };
    expect(syntax).toMatchObject({ level: 50, changed: ['words.ts'] });
    expect(syntax.err.message).toContain(`${join(dir, 'words.ts')}:1:`);
    expect(await ask('/word')).toBe('three');

    // Fixed, then a setup that throws: the same.
    await save(join(dir, 'words.ts'), "export const word = 'five';\n");
    await reloads(3);
    expect(await ask('/word')).toBe('five');
    await save(join(dir, 'bot.ts'), botSource("throw new Error('setup broke');"));
    const broken = JSON.parse(await failures(2)) as { changed: string[]; err: { message: string; stack: string } };
    expect(broken).toMatchObject({ changed: ['bot.ts'], err: { message: 'setup broke' } });
    expect(broken.err.stack).toContain(join(dir, 'bot.ts'));
    expect(await ask('/word')).toBe('five');

    // Fixed again: a new command is there.
    await save(join(dir, 'bot.ts'), botSource("bot.command('six', () => 'six');"));
    await reloads(4);
    expect(await ask('/six')).toBe('six');

    // One polling session all along: no webhook deleted again, no getMe again, offsets only move forward.
    expect(sessions()).toBe(opened);
    const offsets = tg.calls.filter((c) => c.method === 'getUpdates' && c.params.offset !== undefined).map((c) => Number(c.params.offset));
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(sb.output).not.toContain(tg.token.split(':')[1]!);
  }, 60_000);
});
