#!/usr/bin/env node
// Installed from npm, the compiled dist/ runs. In this repository (scripts/ beside bin/) the
// sources run compiled by esbuild into a cache, rebuilt at start when a source is newer (see
// scripts/source-cache.js). Either way no TypeScript loader is registered unless the bot itself
// is TypeScript (see src/runtime/bot-import.ts).
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const sourceCache = new URL('../scripts/source-cache.js', import.meta.url);
const cli = existsSync(sourceCache) ? pathToFileURL(await (await import(sourceCache.href)).compiledCli()).href : '../dist/src/runtime/cli.js';
const { main } = await import(cli);
process.exitCode = await main(process.argv.slice(2));
