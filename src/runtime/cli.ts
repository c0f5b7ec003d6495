// `switchboard start|check`: the operator's entry point.

import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ConfigError, defaultConfig, loadConfig, redactConfig, type Config } from './config.js';
import { definitions } from './registry.js';
import { StoreError } from '../store/index.js';
import { openStore } from '../store/open.js';
import { outboxCommand, outboxUsage } from './outbox-cli.js';
import { Runtime, roleNeedsRedis, type Role } from './runtime.js';
import { ListenError } from '../inbound/server.js';
import { chooseLogFormat, logDestination, LogFormatError, type LogFormat } from './log-format.js';
import { createLogger } from './logger.js';
import { BotReloader } from './reload.js';
import { initCommand } from '../scaffold/init.js';
import { openConsole } from '../console/index.js';

const usage = `Usage: switchboard <command> [--config file.yaml]

Commands:
  start   run the bot on every configured platform (no --config: the example bot on the web sandbox)
  check   validate a config file and print it resolved, with every secret masked
  outbox  list, retry or drop dead letters: replies the retry policy gave up on (no arguments: its usage)
  init    write a new bot project into a folder: switchboard init my-bot

Options:
  -c, --config <file>   the config file (YAML; \${NAME} reads the environment)
  --role <role>         start only: all (default), ingress (take webhooks and connections, queue events)
                        or worker (handle queued events); ingress and worker need store.type: redis
  --watch               start only: reload the bot when its files change; platforms stay connected
  --log-format <f>      start only: pretty or json (default: pretty on a terminal, json otherwise;
                        or the environment's LOG_FORMAT)
  -h, --help            show this text`;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, role: { type: 'string' }, watch: { type: 'boolean' }, 'log-format': { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const [command] = parsed.positionals;
  if (parsed.values.help || !command) {
    console.log(usage);
    return command || parsed.values.help ? 0 : 2;
  }
  if (command === 'init') return initCommand(parsed.positionals.slice(1));
  if (command !== 'start' && command !== 'check' && command !== 'outbox') {
    console.error(`unknown command "${command}"\n\n${usage}`);
    return 2;
  }
  const role = parsed.values.role ?? 'all';
  if (!isRole(role) || (parsed.values.role !== undefined && command !== 'start')) {
    console.error(`${isRole(role) ? '--role is an option of start' : `unknown role "${role}": all, ingress or worker`}\n\n${usage}`);
    return 2;
  }
  if (command !== 'start' && (parsed.values.watch || parsed.values['log-format'] !== undefined)) {
    console.error(`${parsed.values.watch ? '--watch' : '--log-format'} is an option of start\n\n${usage}`);
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
    console.log(stringify(redactConfig(config, definitions)));
    return 0;
  }
  if (command === 'outbox') return outbox(config, parsed.positionals.slice(1));
  if (role !== 'all' && config.store.type !== 'redis') {
    console.error(`Cannot start: ${roleNeedsRedis(role, config.store.type)}`);
    return 1;
  }
  let logFormat: LogFormat;
  try {
    logFormat = chooseLogFormat({ flag: parsed.values['log-format'], env: process.env.LOG_FORMAT, isTTY: process.stdout.isTTY === true });
  } catch (error) {
    if (!(error instanceof LogFormatError)) throw error;
    console.error(error.message);
    return 2;
  }
  return start(config, role, { watch: parsed.values.watch === true, logFormat });
}

function isRole(value: string): value is Role {
  return value === 'all' || value === 'ingress' || value === 'worker';
}

async function outbox(config: Config, args: string[]): Promise<number> {
  if (args.length === 0) {
    console.log(outboxUsage);
    return 2;
  }
  if (config.store.type === 'memory') {
    console.error('store: { type: memory } keeps no outbox between runs; there is nothing to list here');
    return 1;
  }
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

async function start(config: Config, role: Role, options: { watch: boolean; logFormat: LogFormat }): Promise<number> {
  const destination = await logDestination(options.logFormat);
  // With the console on, log lines of a message are also kept with it (src/console).
  const hub = openConsole(config, definitions);
  const logger = createLogger(config.log.level, hub ? hub.tap(destination) : destination);
  const reloader = options.watch ? BotReloader.open(config.bot) : undefined;
  let runtime: Runtime;
  try {
    runtime = await Runtime.create(config, { role, logger, bot: await reloader?.load(), console: hub });
  } catch (error) {
    // A store that cannot be opened is the operator's to fix; the message says how.
    if (!(error instanceof StoreError)) throw error;
    console.error(`Cannot start: ${error.message}`);
    return 1;
  }
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
    // Not listening is the operator's to fix: say how, without a stack.
    if (error instanceof ListenError) console.error(`Cannot start: ${error.message}. ${howToListen(error)}`);
    else runtime.logger.fatal({ err: error }, 'could not start');
    await runtime.stop();
    return 1;
  }
  reloader?.watch((bot) => runtime.setBot(bot), runtime.logger);
  const sandbox = config.platforms.find((p) => p.type === 'sandbox');
  if (sandbox && process.stdout.isTTY) console.error(`\n  Chat with the bot: ${runtime.url}/\n`);
  await stopped;
  reloader?.close();
  // Everything is closed and recorded; a handler still running (it will be resumed next start) must not keep the process up.
  setTimeout(() => process.exit(0), 100).unref();
  return 0;
}

function howToListen(error: ListenError): string {
  if (error.code === 'EADDRNOTAVAIL') return 'Set server.host to one of its addresses (127.0.0.1 for this machine only, 0.0.0.0 for every interface).';
  const other = error.code === 'EACCES' || error.port >= 65535 ? 3000 : error.port + 1;
  return `Pick another port: PORT=${other} switchboard start, or server.port in the config (PORT wins; 0 takes any free port).`;
}
