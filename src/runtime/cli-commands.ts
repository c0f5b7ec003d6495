// The commands that read a config: check, outbox and start (cli.ts has checked their arguments).
// Each loads what it needs when it runs: `check` never loads the runtime, nor `start` the outbox.

import { ConfigError, defaultConfig, loadConfig, platformTypesIn, redactConfig, toYaml, type Config } from './config.js';
import { definitionsFor } from './platforms.js';
import type { Role } from './runtime.js';

export interface CommandOptions {
  config?: string;
  watch?: boolean;
  'log-format'?: string;
}

export async function runCommand(command: 'start' | 'check' | 'outbox', role: Role, options: CommandOptions, args: string[]): Promise<number> {
  const definitions = await definitionsFor(options.config ? await platformTypesIn(options.config) : ['sandbox']);
  let config: Config;
  try {
    config = options.config ? await loadConfig(options.config, { definitions }) : defaultConfig({ definitions });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`Invalid config ${error.message}`);
    return 1;
  }
  if (command === 'check') {
    console.log(`# ${options.config}: valid. Resolved config, secrets masked:`);
    console.log(toYaml(redactConfig(config, definitions)));
    return 0;
  }
  if (command === 'outbox') return outbox(config, args);
  return (await import('./cli-start.js')).startCommand(config, role, options, definitions);
}

async function outbox(config: Config, args: string[]): Promise<number> {
  const { outboxCommand, outboxUsage } = await import('./outbox-cli.js');
  if (args.length === 0) {
    console.log(outboxUsage);
    return 2;
  }
  if (config.store.type === 'memory') {
    console.error('store: { type: memory } keeps no outbox between runs; there is nothing to list here');
    return 1;
  }
  const [{ openStore }, { StoreError }] = await Promise.all([import('../store/open.js'), import('../store/index.js')]);
  let store;
  try {
    store = await openStore(config.store);
  } catch (error) {
    if (!(error instanceof StoreError)) throw error;
    console.error(error.message);
    return 1;
  }
  try {
    return await outboxCommand(store, args, (line) => console.log(line), (line) => console.error(line));
  } finally {
    await store.close();
  }
}
