// The runtime turns V8's allocation-site pretenuring off (src/runtime/collector.ts), unless node was
// started asking for it: seen in the decisions V8 prints under --trace-pretenuring.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/survivors.ts', import.meta.url));

async function decisions(args: string[], nodeArgs: string[] = []): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [...nodeArgs, '--trace-pretenuring', '--trace-pretenuring-statistics', '--import', 'tsx', fixture, ...args]);
  expect(stdout).toContain('kept 800000');
  return stdout.split('\n').filter((line) => line.includes('pretenuring: AllocationSite')).length;
}

describe('the collector setting', () => {
  it('leaves V8 no pretenuring decision to make once tuned; without it, objects that outlive young collections get some', async () => {
    expect(await decisions([])).toBeGreaterThan(0);
    expect(await decisions(['tuned'])).toBe(0);
  }, 60_000);

  it('keeps pretenuring when node was started asking for it', async () => {
    expect(await decisions(['tuned'], ['--allocation-site-pretenuring'])).toBeGreaterThan(0);
  }, 60_000);
});
