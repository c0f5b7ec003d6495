// The published package, used as a bot author would: packed, installed into a folder outside the
// repository, a bot there importing 'switchboard', started with `npx switchboard start` against
// the Telegram fake; and `npx switchboard init` with the scaffold's own test.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardProcess } from './drill/child.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { installPacked, pack, root } from './packed.js';
import { waitFor } from './helpers.js';

const run = promisify(execFile);
// npm and tsc on a two-core machine shared with other suites: generous, since nothing here waits on time.
const slow = 120_000;
const typescript = join(root, 'node_modules/typescript/bin/tsc');

let tarball: string;
let app: string;
const made: string[] = [];
/** A new folder outside the repository, removed after the file's tests. */
function tempFolder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

beforeAll(async () => {
  tarball = await pack();
  made.push(dirname(tarball));
  app = tempFolder('switchboard-app-');
  await installPacked(app, tarball);
}, 300_000);
afterAll(async () => {
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
}, slow);

let fake: FakeTelegram | undefined;
let proc: SwitchboardProcess | undefined;
afterEach(async () => {
  await proc?.stop();
  await fake?.stop();
  proc = fake = undefined;
});

/** `npx switchboard start` in the app folder with `bot` as the bot (none: the built-in example), polling the Telegram fake. */
async function startWith(bot?: string): Promise<FakeTelegram> {
  fake = new FakeTelegram();
  await fake.start();
  const config = `bot.${bot ?? 'builtin'}.yaml`;
  // A store file per bot: a second fake numbers its updates as the first did, which a shared store would drop as redeliveries.
  writeFileSync(join(app, config), [bot ? `bot: ./${bot}` : '', 'server: { port: 0 }', `store: { type: sqlite, path: ./data/${bot ?? 'builtin'}.db }`, 'platforms:', `  - { id: tg, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}", mode: polling, pollTimeout: 1 }`, ''].join('\n'));
  proc = await SwitchboardProcess.start(config, app, {}, 60_000, [], ['npx', 'switchboard']);
  return fake;
}

async function answers(fake: FakeTelegram, text: string): Promise<string[]> {
  fake.pushMessage({ text });
  const replies = () => fake.sent().length > 0 && fake.sent().map((c) => c.params.text ?? `[${c.method}]`);
  return waitFor(replies, 15_000, 'a reply at the fake').catch((error: Error) => {
    throw new Error(`${error.message}; switchboard said:\n${proc?.output}`);
  });
}

describe('the packed package', () => {
  it('ships compiled JS with type declarations and no TypeScript sources', () => {
    const installed = join(app, 'node_modules/switchboard');
    expect(existsSync(join(installed, 'dist/src/index.js'))).toBe(true);
    expect(existsSync(join(installed, 'dist/src/index.d.ts'))).toBe(true);
    expect(existsSync(join(installed, 'dist/adapters/sandbox/page.html'))).toBe(true);
    // The operator console's bundle, served from the package (docs/console.md).
    expect(existsSync(join(installed, 'dist/console/dist/app.js'))).toBe(true);
    expect(existsSync(join(installed, 'src'))).toBe(false);
  });

  it('runs a TypeScript bot that imports switchboard, with its types', async () => {
    writeFileSync(
      join(app, 'bot.ts'),
      `import { defineBot, type Context } from 'switchboard';

const greeting = (ctx: Context): string => \`pong, \${ctx.message.author.name ?? 'friend'}\`;

export default defineBot((bot) => {
  bot.command('ping', (ctx) => greeting(ctx));
  bot.on('message', (ctx) => {
    // @ts-expect-error ctx.text is a string: this line fails to compile if the types did not load
    const wrong: number = ctx.text;
    void wrong;
  });
});
`,
    );
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['bot.ts'] }));
    await run(process.execPath, [typescript, '-p', app]);
    const fake = await startWith('bot.ts');
    expect(await answers(fake, '/ping')).toEqual(['pong, Alice']);
  }, slow);

  it('runs a compiled JavaScript bot', async () => {
    writeFileSync(join(app, 'bot.js'), `import { defineBot } from 'switchboard';\n\nexport default defineBot((bot) => {\n  bot.command('ping', () => 'pong from JavaScript');\n});\n`);
    const fake = await startWith('bot.js');
    expect(await answers(fake, '/ping')).toEqual(['pong from JavaScript']);
  }, slow);

  it('runs the built-in example bot when the config names none', async () => {
    const fake = await startWith();
    expect(await answers(fake, '/echo from the package')).toEqual(['from the package']);
  }, slow);

  it('says how to fix a TypeScript bot in a package that is not "type": "module"', async () => {
    const dir = join(app, 'commonjs');
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), '{ "name": "commonjs-bot" }');
    writeFileSync(join(dir, 'bot.ts'), `import { defineBot } from 'switchboard';\n\nexport default defineBot(() => {});\n`);
    writeFileSync(join(dir, 'switchboard.yaml'), 'bot: ./bot.ts\nserver: { port: 0 }\nstore: { type: memory }\nplatforms:\n  - { id: sandbox, type: sandbox }\n');
    const failed = (await run('npx', ['--prefix', app, 'switchboard', 'start', '--config', 'switchboard.yaml'], { cwd: dir }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`is an ES module in a CommonJS package: add "type": "module" to ${join(dir, 'package.json')}, or name the bot file .mts`);
  }, slow);
});

describe('npx switchboard init', () => {
  it('scaffolds a project whose own test passes against the installed package', async () => {
    const projects = tempFolder('switchboard-init-');
    await run('npx', ['--prefix', app, 'switchboard', 'init', 'my-bot'], { cwd: projects });
    const project = join(projects, 'my-bot');
    expect(readdirSync(project).sort()).toEqual(['.gitignore', 'README.md', 'bot.test.ts', 'bot.ts', 'package.json', 'switchboard.yaml', 'tsconfig.json']);
    const manifest = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({ name: 'my-bot', type: 'module', dependencies: { switchboard: '^0.1.0' } });
    await installPacked(project, tarball, manifest);
    const { stdout } = await run('npm', ['test'], { cwd: project }).catch((error: { stdout: string; stderr: string }) => {
      throw new Error(`the scaffold's npm test failed:\n${error.stdout}\n${error.stderr}`);
    });
    expect(stdout).toMatch(/^# pass 2$/m);
    expect(stdout).toMatch(/^# fail 0$/m);
    // bot.ts and bot.test.ts typecheck against the types of 'switchboard' and 'switchboard/testing'.
    await run('npm', ['run', 'typecheck'], { cwd: project }).catch((error: { stdout: string }) => {
      throw new Error(`the scaffold's typecheck failed:\n${error.stdout}`);
    });
  }, slow);

  it('refuses a folder that is not empty, and leaves it as it was', async () => {
    const dir = tempFolder('switchboard-init-');
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const failed = (await run('npx', ['--prefix', app, 'switchboard', 'init', '.'], { cwd: dir }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`${dir} is not empty`);
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  }, slow);
});
