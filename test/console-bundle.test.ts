// The console's bundle is committed (npm start serves it on a fresh clone with no build step):
// rebuilding it from console/src must give the same bytes, or the committed one is stale.

import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('console bundle', () => {
  it('console/dist is exactly what npm run build:console makes of console/src', () => {
    const run = spawnSync(process.execPath, ['scripts/build-console.js', '--check'], { cwd: root, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('the front end typechecks (esbuild bundles without checking)', () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const run = spawnSync(process.execPath, [tsc, '-p', 'console/tsconfig.json'], { cwd: root, encoding: 'utf8' });
    expect(run.stdout).toBe('');
    expect(run.status).toBe(0);
  }, 60_000);
});
