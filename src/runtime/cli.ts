// `switchboard start|check`: the operator's entry point.

import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ConfigError, defaultConfig, loadConfig, redact, type Config } from './config.js';
import { definitions } from './registry.js';
import { Runtime } from './runtime.js';

const usage = `Usage: switchboard <command> [--config file.yaml]

Commands:
  start   run the bot on every configured platform (no --config: the example bot on the web sandbox)
  check   validate a config file and print it resolved, with every secret masked

Options:
  -c, --config <file>   the config file (YAML; \${NAME} reads the environment)
  -h, --help            show this text`;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const [command] = parsed.positionals;
  if (parsed.values.help || !command) {
    console.log(usage);
    return command || parsed.values.help ? 0 : 2;
  }
  if (command !== 'start' && command !== 'check') {
    console.error(`unknown command "${command}"\n\n${usage}`);
    return 2;
  }
  let config: Config;
  try {
    const path = parsed.values.config;
    if (command === 'check' && !path) {
      console.error('check needs a file: switchboard check --config my.yaml');
      return 2;
    }
    config = path ? await loadConfig(path, { definitions }) : defaultConfig({ definitions });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`Invalid config ${error.message}`);
    return 1;
  }
  if (command === 'check') {
    console.log(`# ${parsed.values.config}: valid. Resolved config, secrets masked:`);
    console.log(stringify(redact(config)));
    return 0;
  }
  return start(config);
}

async function start(config: Config): Promise<number> {
  const runtime = await Runtime.create(config);
  // A stray rejection in a platform SDK must not take every other platform down with it.
  process.on('unhandledRejection', (reason) => runtime.logger.error({ err: reason }, 'unhandled promise rejection'));
  let signals = 0;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) {
        runtime.logger.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      runtime.logger.info({ signal }, 'stopping: finishing in-flight messages');
      void runtime.stop().then(resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  try {
    await runtime.start();
  } catch (error) {
    runtime.logger.fatal({ err: error }, 'could not start');
    await runtime.stop();
    return 1;
  }
  const sandbox = config.platforms.find((p) => p.type === 'sandbox');
  if (sandbox && process.stdout.isTTY) console.error(`\n  Chat with the bot: ${runtime.url}/\n`);
  await stopped;
  return 0;
}
