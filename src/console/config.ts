// `console:` in the config: the operator console's token and how much it remembers.

import { z } from 'zod';
import { secret } from '../runtime/secret.js';
import { byteSize } from '../runtime/units.js';

const settings = z
  .strictObject({
    /** What the login page asks for (e.g. ${CONSOLE_TOKEN}); at least 16 characters. */
    token: secret(z.string().min(16, 'expected a token of at least 16 characters (e.g. the output of: openssl rand -hex 16)')).optional(),
    /** Served to 127.0.0.1 only; with no token, a one-time one is made at start and its login link logged. */
    localOnly: z.boolean().default(false),
    /** Messages kept for the feed and their details; the oldest goes first. */
    events: z.number().int().min(10).max(100_000).default(1000),
    /** Bytes of payloads, bodies and log lines kept per message; longer ones are cut. */
    eventBytes: byteSize.pipe(z.number().min(1024, 'expected at least 1KB')).default(32 * 1024),
  })
  .refine((c) => c.token !== undefined || c.localOnly, { path: ['token'], message: 'required: a token for the login page (token: ${CONSOLE_TOKEN}), or localOnly: true for a one-time one printed in the log' });

/** `console: false` (or no key) turns it off; the built-in sandbox config turns it on for 127.0.0.1. */
export const consoleSchema = z.union([z.literal(false), settings], { error: (issue) => (issue.code === 'invalid_union' ? 'expected false, or a mapping like { token: ${CONSOLE_TOKEN} }' : undefined) });

export type ConsoleConfig = z.output<typeof settings>;
