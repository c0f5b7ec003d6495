import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, redactConfig } from '../src/runtime/config.js';
import { redact } from '../src/runtime/secret.js';
import { httpConfig } from '../adapters/http/schema.js';
import { definitions } from '../src/runtime/registry.js';

const run = promisify(execFile);

function problems(yaml: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfig(yaml, { definitions, env, source: 'my.yaml', baseDir: '/srv' });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error('config was accepted');
}

const tg = (extra = '') => `platforms:\n  - id: tg\n    type: telegram\n    token: "123:abc"\n${extra}`;

describe('config', () => {
  it('reads a full file with ${ENV} values and resolves the bot path next to the file', () => {
    const config = parseConfig(`server: { host: 0.0.0.0, port: 8080 }\nbot: ./bots/mine.ts\nplatforms:\n  - { id: tg, type: telegram, token: "\${TOKEN}" }\n  - { id: tg2, type: telegram, token: "\${TOKEN2:-9:fallback}", mode: webhook, secretToken: s3cret }\n  - { id: sandbox, type: sandbox }`, {
      definitions,
      env: { TOKEN: '42:real-token' },
      source: 'my.yaml',
      baseDir: '/srv/bot',
    });
    expect(config.server).toMatchObject({ host: '0.0.0.0', port: 8080 });
    expect(config.bot).toBe('/srv/bot/bots/mine.ts');
    expect(config.platforms.map((p) => p.id)).toEqual(['tg', 'tg2', 'sandbox']);
    expect(config.platforms[0]).toMatchObject({ token: '42:real-token', mode: 'polling' });
    expect(config.platforms[1]).toMatchObject({ token: '9:fallback', mode: 'webhook' });
  });

  it('lets PORT override the port', () => {
    const config = parseConfig('platforms: [{ id: s, type: sandbox }]', { definitions, env: { PORT: '4567' }, source: 'x', baseDir: '/' });
    expect(config.server.port).toBe(4567);
  });

  it('names an unknown key with its path and line', () => {
    expect(problems(tg('    tokn: oops\n'))).toEqual([{ path: 'platforms[0].tokn', line: 5, message: 'unknown key "tokn"; check its spelling or remove it' }]);
  });

  it('names a wrong type', () => {
    expect(problems('server: { port: "eighty" }\nplatforms: [{ id: s, type: sandbox }]')).toEqual([{ path: 'server.port', line: 1, message: 'expected number, got string "eighty"' }]);
  });

  it('names a missing required key', () => {
    expect(problems('platforms:\n  - id: tg\n    type: telegram\n')).toEqual([{ path: 'platforms[0].token', line: 2, message: 'required: expected string' }]);
  });

  it('names an unset environment variable', () => {
    const issues = problems('platforms:\n  - id: tg\n    type: telegram\n    token: ${TELEGRAM_BOT_TOKEN}\n');
    expect(issues).toContainEqual({ path: 'platforms[0].token', line: 4, message: 'environment variable TELEGRAM_BOT_TOKEN is not set; export it or write the value in the file' });
  });

  it('says which key a near miss meant, and does not also call that key missing', () => {
    expect(problems('platforms:\n  - id: tg\n    type: telegram\n    tokn: "123:abc"\n')).toEqual([{ path: 'platforms[0].tokn', line: 4, message: 'unknown key "tokn"; did you mean "token"?' }]);
    expect(problems('platforms: [{ id: s, type: sandbox }]\ncallbacks:\n  onSend: https://cb.example/sent\n')).toEqual([{ path: 'callbacks.onSend', line: 3, message: 'unknown key "onSend"; did you mean "onSent"?' }]);
    expect(problems('server: { prot: 8080 }\nplatforms: [{ id: s, type: sandbox }]')).toEqual([{ path: 'server.prot', line: 1, message: 'unknown key "prot"; did you mean "port"?' }]);
  });

  it('says what a callback field expects, where it is', () => {
    const callbacks = (stage: string) => problems(`platforms: [{ id: s, type: sandbox }]\ncallbacks:\n  onMessage: ${stage}\n`);
    expect(callbacks('{ url: "https://cb.example/", timeout: five seconds }')).toEqual([
      { path: 'callbacks.onMessage.timeout', line: 3, message: 'expected a duration like 500ms, 5s, 10m, 2h or 7d, got "five seconds"' },
    ]);
    expect(callbacks('{ url: "https://cb.example/", onError: explode }')).toEqual([
      { path: 'callbacks.onMessage.onError', line: 3, message: 'expected one of "continue", "reject", got "explode"' },
    ]);
  });

  it('says a callback URL must be http(s), as a bare URL or in the mapping', () => {
    const message = 'expected an http:// or https:// URL; ftp:// is not supported';
    expect(problems('platforms: [{ id: s, type: sandbox }]\ncallbacks:\n  onMessage: ftp://cb.example/\n')).toEqual([{ path: 'callbacks.onMessage.url', line: 3, message }]);
    expect(problems('platforms: [{ id: s, type: sandbox }]\ncallbacks:\n  onResult: { url: "ftp://user:hunter2@cb.example/" }\n')).toEqual([{ path: 'callbacks.onResult.url', line: 3, message }]);
  });

  it('gives a YAML syntax error its line and column', async () => {
    expect(problems('server:\n  port: 3000\nplatforms:\n  - { id: a, type: sandbox\n')).toEqual([
      { path: '', line: 5, column: 1, message: expect.stringMatching(/^not valid YAML: /) },
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'sb-'));
    await writeFile(join(dir, 'broken.yaml'), 'server: { port: 3000\nplatforms: []\n');
    const failed = (await run(process.execPath, [join(import.meta.dirname, '..', 'bin', 'switchboard.js'), 'check', '--config', join(dir, 'broken.yaml')]).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^ {2}line 2, column \d+: not valid YAML: /m);
  });

  it('says a platform is a mapping with an id and a type', () => {
    expect(problems('platforms: [nope]')).toEqual([
      { path: 'platforms[0]', line: 1, message: 'expected a platform: a mapping with its id and type, like { id: tg, type: telegram, token: … }; got string "nope"' },
    ]);
    expect(problems('platforms: nope')).toEqual([{ path: 'platforms', line: 1, message: 'expected a list, got string "nope"' }]);
  });

  it('reports an unset environment variable once, not again as the invalid value it left', () => {
    expect(problems('platforms:\n  - id: tg\n    type: telegram\n    token: ${TELEGRAM_BOT_TOKEN}\n')).toEqual([
      { path: 'platforms[0].token', line: 4, message: 'environment variable TELEGRAM_BOT_TOKEN is not set; export it or write the value in the file' },
    ]);
    expect(problems('platforms: [{ id: s, type: sandbox }]\ncallbacks:\n  onMessage: ${CALLBACK_URL}\n')).toEqual([
      { path: 'callbacks.onMessage', line: 3, message: 'environment variable CALLBACK_URL is not set; export it or write the value in the file' },
    ]);
  });

  it('names an unknown platform type and lists the known ones', () => {
    expect(problems('platforms: [{ id: x, type: telegrm }]')).toEqual([
      { path: 'platforms[0].type', line: 1, message: `unknown platform type "telegrm"; expected one of: ${definitions.map((d) => d.type).join(', ')}` },
    ]);
  });

  it('names a wrong enum value', () => {
    expect(problems(tg('    mode: push\n'))[0]).toMatchObject({ path: 'platforms[0].mode', message: 'expected one of "polling", "webhook", got "push"' });
  });

  it('requires secretToken in webhook mode, and says why', () => {
    expect(problems(tg('    mode: webhook\n'))[0]).toMatchObject({ path: 'platforms[0].secretToken', message: expect.stringContaining('required in webhook mode') });
  });

  it('refuses duplicate platform ids', () => {
    expect(problems('platforms: [{ id: a, type: sandbox }, { id: a, type: sandbox }]')).toEqual([{ path: 'platforms[1].id', line: 1, message: 'duplicate id "a"; every platform needs its own id' }]);
  });

  it('refuses an empty platform list and broken YAML', () => {
    expect(problems('platforms: []')[0]!.message).toContain('configure at least one platform');
    expect(problems('platforms: [ { id: a')[0]!.message).toMatch(/^not valid YAML/);
  });

  it('masks every secret in the resolved config', () => {
    const config = parseConfig(tg('    mode: webhook\n    secretToken: hush\n    apiRoot: http://user:pw@127.0.0.1:1\n'), { definitions, env: {}, source: 'x', baseDir: '/' });
    const shown = JSON.stringify(redactConfig(config, definitions));
    expect(shown).not.toContain('123:abc');
    expect(shown).not.toContain('hush');
    expect(shown).not.toContain(':pw@');
    expect(redactConfig(config, definitions).platforms[0]).toMatchObject({ token: '********', secretToken: '********', id: 'tg' });
    expect(redact({ url: 'https://h.example/hook?key=abc123&room=7&access_token=zzz' })).toEqual({ url: 'https://h.example/hook?key=********&room=7&access_token=********' });
  });

  it('shows settings about a secret that are not one (how long a key lives, where a token comes from)', () => {
    expect(redact({ apiKey: 'k', apiKeyTtl: 604_800_000, apiKeyGrace: 60_000, tokenUrl: 'https://t.example/token', keyFile: '/x' }, httpConfig)).toEqual({
      apiKey: '********',
      apiKeyTtl: 604_800_000,
      apiKeyGrace: 60_000,
      tokenUrl: 'https://t.example/token',
      keyFile: '/x',
    });
  });
});

describe('switchboard.example.yaml', () => {
  it('is a valid config documenting every platform type', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(join(import.meta.dirname, '..', 'switchboard.example.yaml'), 'utf8');
    const config = parseConfig(text, { definitions, env: { TELEGRAM_BOT_TOKEN: '1:x' }, source: 'example', baseDir: '/' });
    expect(new Set(config.platforms.map((p) => p.type))).toEqual(new Set(definitions.map((d) => d.type)));
    expect(Object.keys(config.callbacks)).toEqual(['onMessage', 'onPreSend', 'onResult', 'onSent', 'budget']);
    expect(config.callbacks.budget).toBe(6000); // the largest timeout before delivery (5s) + 1s
  });
});

describe('switchboard check', () => {
  const cli = join(import.meta.dirname, '..', 'bin', 'switchboard.js');

  it('prints the resolved config with secrets masked and exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-'));
    await writeFile(join(dir, 'ok.yaml'), 'platforms:\n  - { id: tg, type: telegram, token: "${TG}" }\n');
    const { stdout } = await run(process.execPath, [cli, 'check', '--config', join(dir, 'ok.yaml')], { env: { ...process.env, TG: '777:very-secret' } });
    expect(stdout).toContain('token: "********"');
    expect(stdout).toContain('mode: polling');
    expect(stdout).not.toContain('very-secret');
  });

  it('reports every problem with its path and exits non-zero', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'server: { port: 99999 }\nplatforms:\n  - { id: tg, type: telegram, token: "${NOPE_NOT_SET}" }\n');
    const failed = await run(process.execPath, [cli, 'check', '--config', file], { env: { ...process.env, NOPE_NOT_SET: '' } }).catch((e: { code: number; stderr: string }) => e);
    expect('code' in failed && failed.code).toBe(1);
    const { stderr } = failed as { stderr: string };
    expect(stderr).toContain('server.port (line 1)');
    expect(stderr).toContain('platforms[0].token (line 3): environment variable NOPE_NOT_SET is not set');
  });

  it('says which file it could not read', async () => {
    const failed = (await run(process.execPath, [cli, 'start', '--config', '/nonexistent/x.yaml']).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('/nonexistent/x.yaml');
    expect(failed.stderr).toContain('ENOENT');
  });
});
