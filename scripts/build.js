// `npm run build` (and `prepack`): src/, adapters/, bots/ and testing/ to dist/, as JavaScript
// bundled as a checkout runs it (scripts/bundle.js, scripts/cjs-bundles.js) and .d.ts files by tsc,
// then copies the files the runtime reads by path (the sandbox page, the console's bundle) next to
// the compiled modules that read them, so `new URL('./page.html', import.meta.url)` finds them in
// dist/ too.
//
// `node scripts/build.js --out <dir> --no-types`: the same JavaScript elsewhere, without the .d.ts
// files (the start-up bench measures the shipped code this way). The folder must be inside this
// repository, for the compiled modules to find its node_modules.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleOptions } from './bundle.js';
import { bundleApart } from './cjs-bundles.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const roots = ['src', 'adapters', 'bots', 'testing'];
const { values } = parseArgs({ options: { out: { type: 'string' }, 'no-types': { type: 'boolean', default: false } } });
const out = values.out ? resolve(values.out) : join(root, 'dist');

if (!values['no-types'] && out !== join(root, 'dist')) {
  console.error('scripts/build.js: the .d.ts files go to dist/ alone (tsconfig.build.json); with --out, add --no-types');
  process.exit(2);
}

rmSync(out, { recursive: true, force: true });
if (!values['no-types']) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const compiled = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--emitDeclarationOnly'], { cwd: root, stdio: 'inherit' });
  if (compiled.status !== 0) process.exit(compiled.status ?? 1);
}
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
