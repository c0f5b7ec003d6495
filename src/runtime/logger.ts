import { pino, type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * One JSON line per record on stdout. Secrets are kept out by construction (config is never
 * logged raw; see `redact` in config.ts); the redact paths and the error serializer below are a
 * second net for fields that commonly carry credentials.
 */
export function createLogger(level: LogLevel = 'info', destination?: pino.DestinationStream): Logger {
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
 * pino's error serializer, minus any bytes the error carries: Node's HTTP parser errors hold the
 * request as it arrived in `rawPacket` (its headers, and so the secrets they carry), and no raw
 * bytes tell an operator more than the message does.
 */
export function errWithoutBytes(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const serialized = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(serialized)) if (value instanceof Uint8Array || value instanceof ArrayBuffer) delete serialized[key];
  return serialized;
}
