// `npm run build:console`: bundles the console's front end (console/src, Preact) into
// console/dist/app.js and app.css. The bundle is committed so `npm start` serves it on a fresh
// clone with no build step; test/console-bundle.test.ts fails when it is stale.

import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The bundle's files by name; the same sources always give the same bytes. */
export async function bundleConsole() {
  const common = { bundle: true, minify: true, write: false, legalComments: 'none', logLevel: 'silent', absWorkingDir: root };
  const [js, css] = await Promise.all([
    build({ ...common, entryPoints: ['console/src/main.tsx'], format: 'esm', target: 'es2020', jsx: 'automatic', jsxImportSource: 'preact', outfile: 'console/dist/app.js' }),
    build({ ...common, entryPoints: ['console/src/app.css'], outfile: 'console/dist/app.css' }),
  ]);
  return { 'app.js': js.outputFiles[0].contents, 'app.css': css.outputFiles[0].contents };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await bundleConsole();
  // --check: only compare with what is committed (test/console-bundle.test.ts).
  if (process.argv.includes('--check')) {
    const stale = Object.entries(files).filter(([name, bytes]) => !existsSync(new URL(`../console/dist/${name}`, import.meta.url)) || !readFileSync(new URL(`../console/dist/${name}`, import.meta.url)).equals(Buffer.from(bytes)));
    for (const [name] of stale) console.error(`console/dist/${name} is not what console/src builds to: run npm run build:console and commit it`);
    process.exit(stale.length > 0 ? 1 : 0);
  }
  mkdirSync(new URL('../console/dist/', import.meta.url), { recursive: true });
  for (const [name, bytes] of Object.entries(files)) {
    writeFileSync(new URL(`../console/dist/${name}`, import.meta.url), bytes);
    console.log(`console/dist/${name}  ${bytes.length} bytes`);
  }
}
