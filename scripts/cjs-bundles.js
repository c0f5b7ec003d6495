// The CommonJS packages that cost the most to load, each bundled by esbuild into one file for the
// source cache (scripts/source-cache.js) and dist/ (scripts/build.js). Loaded as they ship, Node
// resolves, stats, reads and wraps every file of a package one by one: discord.js is about 480 of
// them with its dependencies, undici 95, yaml 72, and @larksuiteoapi/node-sdk one of 6 MB that
// brings axios and protobufjs. src/runtime/cjs-bundle.ts runs a bundle in the package's place, with
// a V8 code cache beside it; without a bundle (the sources run as they are) the package loads as
// it ships. Measured one by one, bundle and code cache against the package (each in a fresh node):
// discord.js about 350 against 80 ms, undici 120 against 60, yaml 50 against 9, pino 25 against 14;
// koa and its router, which every start loads, about 25 ms of the sandbox's start together. Peak
// RSS under the echo bench did not move with koa bundled apart (bundled into the ES chunks it
// grew: scripts/bundle.js).
//
// A package Switchboard itself depends on stays outside the bundles of the others (discord.js
// requires undici, ws and discord-api-types): required at run time, from the bundle's package's
// own folder, it is one instance in the process, and its own bundle when it has one. The manifest
// names the version bundled: installed beside another version (dist/ in an application whose
// lockfile differs), the package runs as it ships. A bundle's file name carries a hash of its
// content, and so does its code cache beside it: V8 checks a cache against the source's length alone.
//
// Bundled and not imported into Switchboard's own chunks (scripts/bundle.js) because they are
// CommonJS: esbuild would wrap them the same way, and ES modules get no code cache in Node 20. zod
// ships both builds; its CommonJS one is bundled here for that code cache (scripts/bundle.js says how
// the chunks reach it): about 8 ms to load with it, against 18 ms for its ES code inside the chunks.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';

/** Required through src/runtime/require-commonjs.ts, and worth bundling (more files, or a bigger one, than the rest). */
export const bundledApart = ['discord.js', '@larksuiteoapi/node-sdk', 'undici', 'yaml', 'discord-api-types/v10', 'koa', '@koa/router', 'pino', 'zod'];

/** Where the bundles go, from the compiled output's root: src/runtime/require-commonjs.ts finds them at ../../vendor. */
export const vendorDir = 'vendor';

/** The manifest's name in vendorDir: each package (as required) to its bundle's file name and the version bundled. */
export const manifestName = 'manifest.json';

/**
 * Each package bundled, with its source map, and the manifest last, as files to write under `outdir`
 * (not written here: the source cache writes each file whole, for processes starting meanwhile).
 */
export async function bundleApart(root, outdir, esbuild) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const ours = new Set(Object.keys(pkg.dependencies ?? {}));
  const requireFromRoot = createRequire(join(root, 'package.json'));
  const files = [];
  const manifest = {};
  for (const name of bundledApart) {
    const entry = requireFromRoot.resolve(name);
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: [entry],
      entryNames: `${name.replace(/^@/, '').replace(/\//g, '-')}.[hash]`,
      outdir: join(outdir, vendorDir),
      outExtension: { '.js': '.cjs' },
      bundle: true,
      write: false,
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      logLevel: 'error',
      // No comments: the Lark SDK's are partly Chinese, and one character outside Latin-1 makes the
      // whole source a two-byte string (a slower read, twice the memory). Whitespace goes too; the
      // source map (for node --enable-source-maps) gives stack traces their original places.
      minifyWhitespace: true,
      sourcemap: 'linked',
      plugins: [sharedStaysOutside(packageName(name), ours, entry), onlyEnglishZod, oneCopyOf(oneCopy[name] ?? [], entry)],
    });
    const bundle = result.outputFiles.find((out) => out.path.endsWith('.cjs'));
    files.push(...result.outputFiles);
    // ascii: read as Latin-1, no UTF-8 decoding (the source's length, which V8 checks the code cache against, is the same).
    manifest[name] = { file: basename(bundle.path), version: packageOf(entry, packageName(name)).version, ascii: bundle.contents.every((byte) => byte < 0x80) };
  }
  files.push({ path: join(outdir, vendorDir, manifestName), contents: `${JSON.stringify(manifest, null, 2)}\n` });
  return files;
}

/**
 * A package Switchboard depends on itself stays outside the bundle when the bundled code would get
 * the very copy that a require from the bundled package's folder gets (what the bundle's `require`
 * does at run time); a copy nested under one of its dependencies is bundled, as it is that one's alone.
 */
function sharedStaysOutside(own, ours, entry) {
  return {
    name: 'shared-stays-outside',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData?.ownResolve) return undefined;
        const name = packageName(args.path);
        if (name === own || !ours.has(name)) return undefined;
        const options = { kind: args.kind, pluginData: { ownResolve: true } };
        const [fromImporter, fromEntry] = await Promise.all([build.resolve(args.path, { ...options, resolveDir: args.resolveDir }), build.resolve(args.path, { ...options, resolveDir: dirname(entry) })]);
        return fromImporter.path && fromImporter.path === fromEntry.path ? { path: args.path, external: true } : undefined;
      });
    },
  };
}

/**
 * Packages a bundle holds once though its dependencies ask for two versions: each require of them
 * gets the copy the bundled package itself gets. koa 3 requires mime-types 3 and its accepts 1.x
 * mime-types 2, each with its own mime-db (about 180 KB of JSON, parsed and indexed as it loads):
 * accepts gets koa's, whose API is the same (lookup, contentType, extension, charset), and every
 * start loads one database instead of two. Only here, not with npm `overrides`: those apply in the
 * root project alone, so an installed switchboard would still get both (bench/README.md, "Start-up").
 */
const oneCopy = { koa: ['mime-types'] };

function oneCopyOf(names, entry) {
  return {
    name: 'one-copy-of',
    setup(build) {
      if (names.length === 0) return;
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData?.oneCopy || !names.includes(args.path)) return undefined;
        const fromEntry = await build.resolve(args.path, { kind: args.kind, resolveDir: dirname(entry), pluginData: { oneCopy: true } });
        return fromEntry.errors.length > 0 ? undefined : { path: fromEntry.path };
      });
    },
  };
}

/**
 * zod's namespace re-exports its 50 locales (`z.locales`, about half of what it bundles to), and a
 * namespace is kept whole. Switchboard speaks English only (zod's default, `en`, which zod itself
 * requires): the rest would be loaded at every start for nothing.
 */
const onlyEnglishZod = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.cjs$/ }, (args) =>
      args.importer.includes(join('node_modules', 'zod')) ? { path: join(args.resolveDir, '..', 'locales'), namespace: 'zod-locales' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: 'const en = require("./en.cjs");\nexports.en = en && en.__esModule ? en.default : en;\n',
      resolveDir: args.path,
      loader: 'js',
    }));
  },
};

/** The package a specifier names: discord-api-types for discord-api-types/v10. */
function packageName(specifier) {
  return /^(@[^/]+\/[^/]+|[^/]+)/.exec(specifier)[1];
}

/** The package.json of `name` whose main file is `entry` (discord.js's exports map hides its package.json from require). */
function packageOf(entry, name) {
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const path = join(dir, 'package.json');
    if (!existsSync(path)) continue;
    const pkg = JSON.parse(readFileSync(path, 'utf8'));
    if (pkg.name === name) return pkg;
  }
  throw new Error(`no package.json of ${name} above ${entry}`);
}
