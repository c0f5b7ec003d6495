// How log records are written: JSON lines for machines (pipes, files, CI, collectors), or pino's
// pretty printer for a person at a terminal.

import { pino, type DestinationStream } from './pino.js';

export type LogFormat = 'json' | 'pretty';

export class LogFormatError extends Error {}

/**
 * `--log-format` wins, then LOG_FORMAT; with neither, pretty when stdout is a terminal and JSON
 * otherwise, so `switchboard start | jq` and a log collector get JSON without asking.
 */
export function chooseLogFormat(choice: { flag?: string; env?: string; isTTY: boolean }): LogFormat {
  if (choice.flag !== undefined) return parse(choice.flag, '--log-format');
  if (choice.env !== undefined && choice.env !== '') return parse(choice.env, 'LOG_FORMAT');
  return choice.isTTY ? 'pretty' : 'json';
}

function parse(value: string, name: string): LogFormat {
  if (value === 'json' || value === 'pretty') return value;
  throw new LogFormatError(`${name} is json or pretty, got "${value}"`);
}

/**
 * Where the logger writes: stdout as pino does by default for JSON; for pretty, a stream that
 * formats each line in this thread and writes it at once, synchronously (not a worker transport:
 * a line logged just before process.exit is not lost, and nothing starts a thread). Records reach
 * it already serialized, after pino's redaction and serializers, so it shows exactly what JSON
 * would, masked the same. pino-pretty is imported only here, when asked for: JSON start-up does
 * not load it.
 */
export async function logDestination(format: LogFormat, out?: DestinationStream): Promise<DestinationStream | undefined> {
  if (format === 'json') return undefined;
  // pino's own stdout (a closed pipe, as in `| head`, ends logging rather than the process), synchronous.
  out ??= pino.destination({ dest: 1, sync: true });
  const { prettyFactory } = (await import('pino-pretty')).default;
  const pretty = prettyFactory({ translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
  return { write: (line: string) => void out.write(pretty(line)) };
}
