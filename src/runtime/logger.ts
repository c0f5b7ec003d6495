import { pino, type DestinationStream, type Logger } from './pino.js';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * One JSON line per record on stdout. Secrets are kept out by construction (config is never
 * logged raw; see `redact` in config.ts); the redact paths and the error serializer below are a
 * second net for fields that commonly carry credentials.
 */
export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: ['token', '*.token', 'secret', '*.secret', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
      serializers: { err: errWithoutBytes },
    },
    destination,
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * pino's error serializer, minus any bytes the error carries, however deep (an AggregateError's
 * errors are serialized with theirs): Node's HTTP parser errors hold the request as it arrived in
 * `rawPacket` (its headers, and so the secrets they carry), and no raw bytes tell an operator
 * more than the message does.
 */
export function errWithoutBytes(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  return withoutBytes(pino.stdSerializers.err(error), 0);
}

/** A copy with every byte buffer left out; what nests deeper than 8 levels is left out too (it could hide one). */
function withoutBytes(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || depth > 8) return undefined;
  if (Array.isArray(value)) return value.map((item) => withoutBytes(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const kept = withoutBytes(item, depth + 1);
    if (kept !== undefined) copy[key] = kept;
  }
  return copy;
}
