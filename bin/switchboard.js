#!/usr/bin/env node
// Registers tsx so both Switchboard's own sources and an operator's bot module
// written in TypeScript load without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/runtime/cli.ts');
process.exitCode = await main(process.argv.slice(2));
