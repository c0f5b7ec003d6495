// How Switchboard's TypeScript becomes the JavaScript that runs: bundled by esbuild, for the
// source cache of a checkout (scripts/source-cache.js) and for the package's dist/ (scripts/build.js).
//
// Bundled, not compiled file by file: Node's ESM loader resolves, reads, compiles and links each
// module on its own, and a start loaded about 200 of them (93 of ours, 99 of zod's), over half
// of the sandbox's time to /readyz. The entry points (what is imported by path: the CLI, the
// package's exports, the built-in bots, the adapters, which read files beside them, and the
// modules bench/shipped.ts loads) share chunks (code splitting), so every module still exists
// once; zod, pure ESM in 99 files, is bundled in (with the other ES packages of `bundled`), the
// CommonJS packages that cost most are bundled apart (scripts/cjs-bundles.js), the rest stay as
// they ship in node_modules.
// koa with @koa/router (60 files) and pino (35) were bundled in too for a while: 10 ms of start
// each, but the echo bench's peak RSS went from 216 to 333 MB with koa inside the bundle (and 23 MB
// more with pino), for a cause not found yet; they stay out of the chunks. koa and its router are
// bundled apart now (scripts/cjs-bundles.js), which left the peak RSS as it was.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Bundled into the chunks: pure ES modules (a package's ES build, here), and many files. Measured
 * one by one, each in a fresh node, bundled against as they ship: fast-xml-parser (WeCom) 11 against
 * 45 ms, node-telegram-bot-api 12 against 28 ms. CommonJS packages are bundled apart instead
 * (scripts/cjs-bundles.js).
 */
const bundled = new Set(['zod', 'fast-xml-parser', 'node-telegram-bot-api']);
/**
 * zod's namespace re-exports its 50 locales (`z.locales`, 361 KB of the 755 KB it bundles to), and a
 * namespace is kept whole. Switchboard speaks English only (zod's default, `en`, which zod itself
 * imports): the rest would be compiled at every start for nothing.
 */
const onlyEnglishZod = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(join('node_modules', 'zod')) ? { path: join(args.resolveDir, '..', 'locales'), namespace: 'zod-locales' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({ contents: "export { default as en } from './en.js';", resolveDir: args.path, loader: 'js' }));
  },
};

/** Where the chunks go: as deep as src/runtime/, so the paths modules find beside them (../../bots/echo.js, ../../console/dist/) hold. */
export const chunkDir = 'src/chunks';

/** esbuild's options for the sources under `root`, written to `outdir`. */
export function bundleOptions(root, outdir) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const external = ['switchboard', ...Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((name) => !bundled.has(name))];
  return {
    absWorkingDir: root,
    entryPoints: [
      'src/runtime/cli.ts',
      'src/index.ts',
      'testing/index.ts',
      ...readdirSync(join(root, 'bots')).filter((name) => name.endsWith('.ts')).map((name) => `bots/${name}`),
      ...readdirSync(join(root, 'adapters')).map((name) => `adapters/${name}/index.ts`),
      'src/bot/bot.ts',
      'src/runtime/config.ts',
      'src/runtime/registry.ts',
      'src/runtime/runtime.ts',
      // testing/ is left out of the Docker image.
    ].filter((entry) => existsSync(join(root, entry))),
    outdir,
    outbase: '.',
    bundle: true,
    splitting: true,
    chunkNames: `${chunkDir}/[name]-[hash]`,
    external: external.flatMap((name) => [name, `${name}/*`]),
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'error',
    plugins: [onlyEnglishZod],
  };
}
