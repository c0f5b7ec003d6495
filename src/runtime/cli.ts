// `switchboard start|check|outbox|init`: the operator's entry point. Only the arguments are read
// here; each command's module (and what it needs: config schemas, the runtime, the SDKs) is
// imported once the command is known to run, so `--help` and usage errors load almost nothing.

import { parseArgs } from 'node:util';
import type { Role } from './runtime.js';

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
  if (command === 'init') return (await import('../scaffold/init.js')).initCommand(parsed.positionals.slice(1));
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
  if (command === 'check' && !parsed.values.config) {
    console.error('check needs a file: switchboard check --config my.yaml');
    return 2;
  }
  return (await import('./cli-commands.js')).runCommand(command, role, parsed.values, parsed.positionals.slice(1));
}

function isRole(value: string): value is Role {
  return value === 'all' || value === 'ingress' || value === 'worker';
}
