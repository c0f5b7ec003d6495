#!/usr/bin/env node
// In this repository (src/ beside bin/) Switchboard runs from its TypeScript sources through tsx,
// and `import ... from 'switchboard'` resolves to those sources too (the "switchboard-source"
// condition in package.json's exports). Installed from npm there is no src/: the compiled dist/
// runs, and tsx is loaded only when the bot itself is TypeScript (see src/runtime/bot-import.ts).
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const source = new URL('../src/runtime/cli.ts', import.meta.url);
let cli;
if (existsSync(source)) {
  (await import('tsx/esm/api')).register();
  const addSourceCondition = `export function resolve(specifier, context, next) {
    return next(specifier, { ...context, conditions: [...context.conditions, 'switchboard-source'] });
  }`;
  register(`data:text/javascript,${encodeURIComponent(addSourceCondition)}`);
  cli = await import(source.href);
} else {
  cli = await import('../dist/src/runtime/cli.js');
}
process.exitCode = await cli.main(process.argv.slice(2));
