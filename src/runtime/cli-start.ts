// `switchboard start`: the runtime on every configured platform, until a signal stops it.

import type { AdapterDefinition } from '../adapter.js';
import type { Config } from './config.js';
import type { CommandOptions } from './cli-commands.js';
import { StoreError } from '../store/index.js';
import { Runtime, roleNeedsRedis, type Role } from './runtime.js';
import { ListenError } from '../inbound/server.js';
import { chooseLogFormat, logDestination, LogFormatError, type LogFormat } from './log-format.js';
import { createLogger } from './logger.js';
import { BotReloader } from './reload.js';
import { openConsole } from '../console/index.js';

export async function startCommand(config: Config, role: Role, options: CommandOptions, definitions: readonly AdapterDefinition[]): Promise<number> {
  if (role !== 'all' && config.store.type !== 'redis') {
    console.error(`Cannot start: ${roleNeedsRedis(role, config.store.type)}`);
    return 1;
  }
  let logFormat: LogFormat;
  try {
    logFormat = chooseLogFormat({ flag: options['log-format'], env: process.env.LOG_FORMAT, isTTY: process.stdout.isTTY === true });
  } catch (error) {
    if (!(error instanceof LogFormatError)) throw error;
    console.error(error.message);
    return 2;
  }
  return start(config, role, { watch: options.watch === true, logFormat, definitions });
}

async function start(config: Config, role: Role, options: { watch: boolean; logFormat: LogFormat; definitions: readonly AdapterDefinition[] }): Promise<number> {
  const destination = await logDestination(options.logFormat);
  // With the console on, log lines of a message are also kept with it (src/console).
  const hub = openConsole(config, options.definitions);
  const logger = createLogger(config.log.level, hub ? hub.tap(destination) : destination);
  const reloader = options.watch ? await BotReloader.open(config.bot) : undefined;
  let runtime: Runtime;
  try {
    runtime = await Runtime.create(config, { role, logger, bot: await reloader?.load(), definitions: options.definitions, console: hub });
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
