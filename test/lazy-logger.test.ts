// A message's logger: the same lines as pino's child, and no child made while nothing is printed.

import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { lazyChild } from '../src/runtime/lazy-logger.js';
import { createLogger } from '../src/runtime/logger.js';

function capture(level: 'warn' | 'info') {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk, _encoding, done) => void (lines.push(JSON.parse(String(chunk))), done()) });
  return { logger: createLogger(level, sink), lines };
}

describe('lazyChild', () => {
  it('makes no child for lines its level does not print, and prints the others with the bindings', () => {
    const { logger, lines } = capture('warn');
    const child = vi.spyOn(logger, 'child');
    const log = lazyChild(logger, { event: 'e1', chat: 'c1' });
    log.info({ ms: 1 }, 'message handled');
    log.debug('details');
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
    log.warn({ token: 'secret-value' }, 'something to see');
    log.error('and worse');
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines).toMatchObject([
      { level: 40, event: 'e1', chat: 'c1', token: '[redacted]', msg: 'something to see' },
      { level: 50, event: 'e1', chat: 'c1', msg: 'and worse' },
    ]);
  });

  it('prints info with the bindings at level info, and a child of it carries both', () => {
    const { logger, lines } = capture('info');
    const log = lazyChild(logger, { event: 'e2' });
    log.info('handled');
    log.child({ stage: 'onMessage' }).info('asked');
    expect(lines).toMatchObject([
      { level: 30, event: 'e2', msg: 'handled' },
      { level: 30, event: 'e2', stage: 'onMessage', msg: 'asked' },
    ]);
    expect(log.level).toBe('info');
  });
});
