// `npm run build` (and `prepack`): src/, adapters/, bots/ and testing/ to dist/, as JavaScript
// bundled as a checkout runs it (scripts/bundle.js, scripts/cjs-bundles.js) and .d.ts files by tsc,
// then copies the files the runtime reads by path (the sandbox page, the console's bundle) next to
// the compiled modules that read them, so `new URL('./page.html', import.meta.url)` finds them in
// dist/ too.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleOptions } from './bundle.js';
import { bundleApart } from './cjs-bundles.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const roots = ['src', 'adapters', 'bots', 'testing'];
const out = join(root, 'dist');

rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--emitDeclarationOnly'], { cwd: root, stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);
const esbuild = await import('esbuild');
await esbuild.build(bundleOptions(root, out));
for (const file of await bundleApart(root, out, esbuild)) {
  mkdirSync(dirname(file.path), { recursive: true });
  writeFileSync(file.path, file.contents);
}

for (const dir of roots) if (existsSync(join(root, dir))) copyAssets(dir);
// The operator console's committed bundle (npm run build:console), served from dist/console/dist.
copyAssets(join('console', 'dist'));

function copyAssets(dir) {
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) copyAssets(path);
    else if (!/\.[cm]?ts$/.test(entry.name)) {
      mkdirSync(dirname(join(out, path)), { recursive: true });
      copyFileSync(join(root, path), join(out, path));
    }
  }
}
