// How Switchboard's TypeScript becomes the JavaScript that runs: bundled by esbuild, for the
// source cache of a checkout (scripts/source-cache.js) and for the package's dist/ (scripts/build.js).
//
// Bundled, not compiled file by file: Node's ESM loader resolves, reads, compiles and links each
// module on its own, and a start loaded about 200 of them (93 of ours, 99 of zod's), over half
// of the sandbox's time to /readyz. The entry points (what is imported by path: the CLI, the
// package's exports, the built-in bots, the adapters, which read files beside them, and the
// modules bench/shipped.ts loads) share chunks (code splitting), so every module still exists
// once; the ES packages of `bundled` are bundled in, the CommonJS packages that cost most (and
// zod, see `zodFromItsBundle`) are bundled apart (scripts/cjs-bundles.js), the rest stay as they
// ship in node_modules.
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
const bundled = new Set(['fast-xml-parser', 'node-telegram-bot-api']);
/**
 * zod is ESM too, but it is the largest thing every start loads (about 390 KB bundled), and Node 20
 * keeps no code cache for ES modules: compiled at every start, then each function compiled again on
 * its first call as the config schemas are built. Bundled apart it runs with a V8 code cache like the
 * CommonJS packages (scripts/cjs-bundles.js); about 10 ms less to load. The chunks' `import { z }
 * from 'zod'` becomes this module, which takes zod from that bundle (or, without one, as it ships).
 */
const zodFromItsBundle = (root) => ({
  name: 'zod-from-its-bundle',
  setup(build) {
    build.onResolve({ filter: /^zod$/ }, () => ({ path: 'zod', namespace: 'zod-from-its-bundle' }));
    build.onLoad({ filter: /.*/, namespace: 'zod-from-its-bundle' }, () => ({
      contents: `import { requireCommonJs } from ${JSON.stringify(join(root, 'src/runtime/require-commonjs.ts'))};\nexport const { z } = requireCommonJs('zod');\n`,
      resolveDir: root,
      loader: 'js',
    }));
  },
});

/** Where the chunks go: as deep as src/runtime/, so the paths modules find beside them (../../bots/echo.js, ../../console/dist/) hold. */
export const chunkDir = 'src/chunks';

/** esbuild's options for the sources under `root`, written to `outdir`. */
export function bundleOptions(root, outdir) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const external = ['switchboard', ...Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((name) => !bundled.has(name) && name !== 'zod')];
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
    plugins: [zodFromItsBundle(root)],
  };
}
