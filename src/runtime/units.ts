import { z } from 'zod';

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const sizeUnits: Record<string, number> = { b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3 };

function parseUnit(value: string, units: Record<string, number>): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (!match) return undefined;
  const factor = units[(match[2] ?? '').toLowerCase() || Object.keys(units)[0]!];
  return factor === undefined ? undefined : Math.round(Number(match[1]) * factor);
}

/** "5s", "300ms", "7d", or a number of milliseconds. */
export const duration = z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
  const ms = typeof value === 'number' ? value : parseUnit(value, durationUnits);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like 500ms, 5s, 10m, 2h or 7d, got "${value}"` });
    return z.NEVER;
  }
  return ms;
});

/** "1mb", "512kb", "10MiB", or a number of bytes. */
export const byteSize = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
  const bytes = typeof value === 'number' ? value : parseUnit(value, sizeUnits);
  if (bytes === undefined || bytes <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a size like 512kb, 1mb or 10MiB, got "${value}"` });
    return z.NEVER;
  }
  return bytes;
});

/** An http:// or https:// URL (the value is not repeated in the message: it may carry a credential). */
export const httpUrl = z.url({
  protocol: /^https?$/,
  error: (issue) => {
    const scheme = typeof issue.input === 'string' ? /^([a-z][a-z0-9+.-]*):\/\//i.exec(issue.input)?.[1] : undefined;
    return scheme && !/^https?$/i.test(scheme) ? `expected an http:// or https:// URL; ${scheme}:// is not supported` : 'expected an http:// or https:// URL, like https://example.com/path';
  },
});
