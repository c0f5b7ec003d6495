// What the CLI loads to start (issue 17: start in < 400 ms). A resolve hook, given to the child
// with --import, writes down every module the process resolves; the test reads which packages
// and which of Switchboard's modules a command needed.

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from './helpers.js';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin/switchboard.js');

/**
 * Registers a resolve hook that appends each URL an import resolves to, a line each, to the file
 * SB_RESOLVED names; at exit, every CommonJS module loaded (required, or imported) is added.
 */
const recorder = `
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
const file = process.env.SB_RESOLVED;
register('data:text/javascript,' + encodeURIComponent(\`
  import { appendFileSync } from 'node:fs';
  let file;
  export function initialize(data) { file = data; }
  export async function resolve(specifier, context, next) {
    const resolved = await next(specifier, context);
    appendFileSync(file, resolved.url + '\\\\n');
    return resolved;
  }\`), { data: file });
const cache = createRequire(process.cwd() + '/').cache;
process.on('exit', () => appendFileSync(file, Object.keys(cache).map((path) => 'file://' + path + '\\n').join('')));`;

interface Loaded {
  /** Packages from node_modules, by name. */
  packages: Set<string>;
  /** Every file loaded from node_modules (outside the cache), as a path under it: undici/index.js. */
  files: Set<string>;
  /** Switchboard's own source modules whose code was loaded (src/runtime/cli.ts…), wherever the bundle put it. */
  own: Set<string>;
}

const cache = join(root, 'node_modules/.cache/switchboard');

/** The sources in compiled files of the cache: esbuild starts each module's code with a `// path.ts` line. */
async function sourcesIn(files: Iterable<string>): Promise<Set<string>> {
  const sources = new Set<string>();
  for (const file of files) {
    if (!file.endsWith('.js')) continue;
    for (const [, source] of (await readFile(join(cache, file), 'utf8')).matchAll(/^\/\/ ((?:src|adapters|bots|testing)\/\S+\.ts)$/gm)) sources.add(source!);
  }
  return sources;
}

async function run(args: string[], until?: (output: string) => boolean, inDir: Record<string, string> = {}): Promise<Loaded & { code: number | null; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-startup-'));
  for (const [name, text] of Object.entries(inDir)) await writeFile(join(dir, name), text);
  const log = join(dir, 'resolved.txt');
  const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(recorder)}`, bin, ...args], { cwd: dir, env: { ...process.env, PORT: '0', LOG_FORMAT: 'json', SB_RESOLVED: log }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (until) {
    await waitFor(() => until(output), 15_000, 'the process to start');
    child.kill('SIGTERM');
  }
  const code = await exited;
  const urls = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  const packages = new Set(urls.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/.][^/]*)\//.exec(url.replace(/\/node_modules\/\.cache\/switchboard\/.*/, ''))?.[1] ?? []));
  const files = new Set(urls.flatMap((url) => /\/node_modules\/((?!\.cache\/).*)$/.exec(url)?.[1] ?? []));
  const own = await sourcesIn(new Set(urls.flatMap((url) => /\/node_modules\/\.cache\/switchboard\/(.*)$/.exec(url)?.[1] ?? [])));
  return { packages, files, own, code, output };
}

describe('start-up', () => {
  it('--help loads the CLI module alone: no config, runtime, schema or package', async () => {
    // A source edited since the last build is compiled first (esbuild loads then): this start sees a fresh cache.
    await run(['--help']);
    const { packages, own, code, output } = await run(['--help']);
    expect(code).toBe(0);
    expect(output).toMatch(/^Usage: switchboard <command>/);
    expect([...own]).toEqual(['src/runtime/cli.ts']);
    expect([...packages]).toEqual([]);
  }, 20_000);

  it('the sandbox with no config loads neither another platform, nor the Redis, HTTP-client, metrics or YAML packages', async () => {
    const { packages, own, code } = await run(['start'], (output) => output.includes('"msg":"switchboard started"'));
    expect(code).toBe(0);
    const adapters = [...own].filter((path) => path.startsWith('adapters/'));
    expect(adapters).toContain('adapters/sandbox/index.ts');
    expect(adapters.filter((path) => !path.startsWith('adapters/sandbox/'))).toEqual([]);
    for (const name of ['ioredis', 'bullmq', 'undici', 'prom-client', 'yaml', 'discord.js', 'discord-api-types', 'pino-pretty']) expect(packages, name).not.toContain(name);
    // What the sandbox does need is loaded, whether imported or required: the server, the logger, the store, the config's schemas.
    for (const name of ['koa', 'pino', 'better-sqlite3', 'zod']) expect(packages, name).toContain(name);
  }, 30_000);

  it('runs undici and yaml from their bundles (scripts/cjs-bundles.js), with a code cache from the second start on', async () => {
    // Tencent IM needs undici from its start (and calls nothing until a message comes); the config is YAML.
    const config = 'platforms:\n  - { id: tim, type: tencent-im, sdkAppId: 1400000000, secretKey: "0123456789abcdef0123456789abcdef", adminIdentifier: admin, botAccount: bot, callbackToken: tok, apiRoot: "http://127.0.0.1:9" }\n';
    const start = () => run(['start', '--config', 'sb.yaml'], (output) => output.includes('"msg":"switchboard started"'), { 'sb.yaml': config });
    await start();
    const { packages, files, code } = await start();
    expect(code).toBe(0);
    expect(packages).toContain('undici');
    // Of each package, its main file alone: the entry the bundle stands in for, in require's cache.
    expect([...files].filter((file) => /^(undici|yaml)\//.test(file)).sort()).toEqual(['undici/index.js', 'yaml/dist/index.js']);
    const vendor = await readdir(join(cache, 'vendor'));
    const manifest = JSON.parse(await readFile(join(cache, 'vendor/manifest.json'), 'utf8')) as Record<string, { file: string }>;
    for (const name of ['undici', 'yaml']) expect(vendor, name).toContain(`${manifest[name]!.file}.v8cache`);
  }, 30_000);

  it('runs zod from its bundle with a code cache, English messages alone, none of it in the chunks', async () => {
    await run(['start'], (output) => output.includes('"msg":"switchboard started"'));
    const { files, code } = await run(['start'], (output) => output.includes('"msg":"switchboard started"'));
    expect(code).toBe(0);
    // Its main file alone (the entry the bundle stands in for): not its ES build, not its 50 locales file by file.
    expect([...files].filter((file) => file.startsWith('zod/'))).toEqual(['zod/index.cjs']);
    const manifest = JSON.parse(await readFile(join(cache, 'vendor/manifest.json'), 'utf8')) as Record<string, { file: string }>;
    const bundle = manifest.zod!.file;
    expect(await readdir(join(cache, 'vendor'))).toContain(`${bundle}.v8cache`);
    // What went into the bundle (its source map): zod's schemas, and of z.locales only English.
    const { sources } = JSON.parse(await readFile(join(cache, 'vendor', `${bundle}.map`), 'utf8')) as { sources: string[] };
    expect(sources.some((source) => source.endsWith('zod/v4/classic/schemas.cjs'))).toBe(true);
    expect(sources.filter((source) => /zod\/v4\/locales\/[^/]+\.cjs$/.test(source))).toEqual([expect.stringMatching(/\/en\.cjs$/)]);
    // The modules of this build (what its entry points import, transitively; older builds' chunks stay a while) take z from it.
    const seen = new Set<string>();
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = await readFile(file, 'utf8');
      for (const [, path] of text.matchAll(/(?:from |import\()"(\.[^"]+\.js)"/g)) await visit(join(dirname(file), path!));
    };
    await visit(join(cache, 'src/index.js'));
    const chunks = (await Promise.all([...seen].map((file) => readFile(file, 'utf8')))).join('\n');
    expect(chunks).not.toContain('// node_modules/zod/');
    expect(chunks).toContain('requireCommonJs("zod")');
  }, 30_000);

  it("bundles koa with one mime-db: accepts gets koa's own mime-types, not its second copy", async () => {
    await run(['start'], (output) => output.includes('"msg":"switchboard started"'));
    const manifest = JSON.parse(await readFile(join(cache, 'vendor/manifest.json'), 'utf8')) as Record<string, { file: string }>;
    const { sources } = JSON.parse(await readFile(join(cache, 'vendor', `${manifest.koa!.file}.map`), 'utf8')) as { sources: string[] };
    expect(sources.filter((source) => source.endsWith('/accepts/index.js'))).toHaveLength(1);
    expect(sources.filter((source) => /\/mime-(db|types)\//.test(source)).map((source) => source.replace(/^(\.\.\/)*(.*node_modules\/)?/, '')).sort()).toEqual([
      'mime-db/db.json',
      'mime-db/index.js',
      'mime-types/index.js',
      'mime-types/mimeScore.js',
    ]);
  }, 30_000);

  it('compiles the sources again when one is newer than the cache, and not otherwise', async () => {
    const manifest = join(root, 'node_modules/.cache/switchboard/package.json');
    await run(['--help']);
    const built = statSync(manifest).mtimeMs;
    await run(['--help']);
    expect(statSync(manifest).mtimeMs).toBe(built);
    // A source touched after the build: the next start compiles before it runs.
    const source = join(root, 'src/message.ts');
    const now = new Date();
    await utimes(source, now, now);
    const { code } = await run(['--help']);
    expect(code).toBe(0);
    const touched = statSync(manifest).mtimeMs;
    expect(touched).toBeGreaterThan(built);
    // An entry added to a source folder (a new module) moves that folder's mtime: compiled again,
    // though no file the last build listed changed.
    const added = join(root, 'src/net/startup-test-added');
    await mkdir(added);
    try {
      expect((await run(['--help'])).code).toBe(0);
      expect(statSync(manifest).mtimeMs).toBeGreaterThan(touched);
    } finally {
      await rm(added, { recursive: true, force: true });
    }
  }, 30_000);

  it('builds while another process empties the chunk folder under it (two starts after one change)', async () => {
    // A name in the folder whose file is gone by the time it is looked at, as another build's renamed partial file is.
    const gone = join(root, 'node_modules/.cache/switchboard/src/chunks/chunk-GONE.js.1.partial');
    await symlink(join(root, 'node_modules/.cache/switchboard/src/chunks/no-such-file'), gone);
    try {
      const now = new Date();
      await utimes(join(root, 'src/message.ts'), now, now);
      const { code } = await run(['--help']);
      expect(code).toBe(0);
    } finally {
      await rm(gone, { force: true });
    }
  }, 30_000);
});
