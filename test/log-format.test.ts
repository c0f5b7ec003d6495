// Pretty logs for a person at a terminal, JSON lines for everything else, and secrets masked in both.

import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../src/runtime/cli.js';
import { chooseLogFormat, logDestination, LogFormatError } from '../src/runtime/log-format.js';
import { createLogger } from '../src/runtime/logger.js';
import { waitFor } from './helpers.js';

const bin = join(import.meta.dirname, '../bin/switchboard.js');

describe('which format', () => {
  it('is pretty on a terminal and JSON anywhere else', () => {
    expect(chooseLogFormat({ isTTY: true })).toBe('pretty');
    expect(chooseLogFormat({ isTTY: false })).toBe('json');
    expect(chooseLogFormat({ isTTY: false, env: '' })).toBe('json');
  });

  it('LOG_FORMAT overrides the terminal, and --log-format overrides both', () => {
    expect(chooseLogFormat({ isTTY: true, env: 'json' })).toBe('json');
    expect(chooseLogFormat({ isTTY: false, env: 'pretty' })).toBe('pretty');
    expect(chooseLogFormat({ isTTY: false, env: 'json', flag: 'pretty' })).toBe('pretty');
    expect(chooseLogFormat({ isTTY: true, env: 'pretty', flag: 'json' })).toBe('json');
  });

  it('names the setting and the choices when the value is neither', () => {
    expect(() => chooseLogFormat({ isTTY: true, flag: 'text' })).toThrow(new LogFormatError('--log-format is json or pretty, got "text"'));
    expect(() => chooseLogFormat({ isTTY: true, env: 'JSON' })).toThrow(new LogFormatError('LOG_FORMAT is json or pretty, got "JSON"'));
  });
});

describe('pretty output', () => {
  it('masks every secret JSON masks, and reads as text', async () => {
    const render = async (format: 'json' | 'pretty') => {
      let out = '';
      const sink = new Writable({ write: (chunk: Buffer, _enc, done) => done(void (out += chunk.toString())) });
      const logger = createLogger('info', (await logDestination(format, sink)) ?? sink);
      const refused = Object.assign(new Error('Parse Error: Invalid header value char'), { rawPacket: Buffer.from('POST / HTTP/1.1\r\nAuthorization: Bearer s3cr3t-bearer\r\n') });
      logger.info({ token: '123456:s3cr3t-token', platform: { id: 'tg', secret: 's3cr3t-nested' }, headers: { authorization: 'Bearer s3cr3t-header' } }, 'calling the platform');
      logger.error({ err: refused }, 'a request was refused');
      return out;
    };
    const json = await render('json');
    const pretty = await render('pretty');
    for (const secret of ['s3cr3t-token', 's3cr3t-nested', 's3cr3t-header', 's3cr3t-bearer']) {
      expect(json).not.toContain(secret);
      expect(pretty).not.toContain(secret);
    }
    const masks = (text: string) => text.split('[redacted]').length - 1;
    expect(masks(json)).toBe(3);
    expect(masks(pretty)).toBe(masks(json));
    expect(pretty).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: calling the platform /m);
    expect(pretty).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] ERROR: a request was refused/m);
    expect(pretty).toContain('Parse Error: Invalid header value char');
    expect(pretty).not.toContain('"level"');
  });
});

describe('the CLI', () => {
  const start = async (args: string[], env: NodeJS.ProcessEnv) => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-logs-'));
    const child = spawn(process.execPath, [bin, 'start', ...args], { cwd: dir, env: { ...process.env, PORT: '0', LOG_FORMAT: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { child, exited, output: () => output };
  };

  it('writes pretty lines into a pipe when LOG_FORMAT asks, and JSON when --log-format says so', async () => {
    const pretty = await start([], { LOG_FORMAT: 'pretty' });
    const line = await waitFor(() => pretty.output().split('\n').find((l) => l.includes('switchboard started')), 15_000, 'the started line');
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: switchboard started \{"url":"http:\/\/127\.0\.0\.1:\d+"/);
    pretty.child.kill('SIGTERM');
    expect(await pretty.exited).toBe(0);
    // The last lines are written before the exit, not lost in a buffer.
    expect(pretty.output()).toMatch(/INFO: switchboard stopped\n$/);

    const json = await start(['--log-format', 'json'], { LOG_FORMAT: 'pretty' });
    const started = await waitFor(() => json.output().split('\n').find((l) => l.includes('switchboard started')), 15_000, 'the started line');
    expect(JSON.parse(started)).toMatchObject({ level: 30, msg: 'switchboard started' });
    json.child.kill('SIGTERM');
    expect(await json.exited).toBe(0);
  }, 40_000);

  it('refuses a format it does not know, and the options on commands other than start', async () => {
    const said = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await main(['start', '--log-format', 'xml'])).toBe(2);
      expect(said).toHaveBeenLastCalledWith('--log-format is json or pretty, got "xml"');
      vi.stubEnv('LOG_FORMAT', 'yaml');
      expect(await main(['start'])).toBe(2);
      expect(said).toHaveBeenLastCalledWith('LOG_FORMAT is json or pretty, got "yaml"');
      expect(await main(['check', '--config', 'x.yaml', '--watch'])).toBe(2);
      expect(said.mock.lastCall?.[0]).toMatch(/^--watch is an option of start\n/);
      expect(await main(['outbox', '--log-format', 'json'])).toBe(2);
      expect(said.mock.lastCall?.[0]).toMatch(/^--log-format is an option of start\n/);
    } finally {
      said.mockRestore();
      vi.unstubAllEnvs();
    }
  });
});
