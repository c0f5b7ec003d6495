// The store a config names: SQLite by default, memory when asked for.

import { z } from 'zod';
import type { Store } from './index.js';
import { duration } from '../runtime/units.js';

export const defaultStorePath = './data/switchboard.db';

/** `type` may be left out: SQLite is meant. */
const sqliteUnlessNamed = (value: unknown) => (typeof value === 'object' && value !== null && !('type' in value) ? { ...value, type: 'sqlite' } : value);

export const storeSchema = z.preprocess(sqliteUnlessNamed, z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('sqlite'),
    /** Relative to the config file's folder (to the working directory with no config file). */
    path: z.string().min(1).default(defaultStorePath),
    /** normal: survives the process being killed; full: also a power cut, at the cost of a disk flush per commit. */
    sync: z.enum(['normal', 'full']).default('normal'),
  }),
  z.strictObject({ type: z.literal('memory') }),
  z.strictObject({
    type: z.literal('redis'),
    url: z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL, like redis://127.0.0.1:6379' }).default('redis://127.0.0.1:6379'),
    /** Every key starts with it: several deployments can share one Redis. */
    prefix: z.string().min(1).default('sb:'),
    /** A command unanswered this long fails, and the store counts as unavailable (webhooks get 503) until Redis answers again. */
    commandTimeout: duration.pipe(z.number().min(100, 'expected at least 100ms')).default(5000),
  }),
]));

export type StoreConfig = z.output<typeof storeSchema>;

/** Throws StoreError, saying what to do, when the store cannot be opened. Only the named backend (and its client library) is loaded. */
export async function openStore(config: StoreConfig): Promise<Store> {
  if (config.type === 'memory') return new (await import('./memory.js')).MemoryStore();
  if (config.type === 'redis') return (await import('./redis/index.js')).RedisStore.open({ url: config.url, prefix: config.prefix, commandTimeoutMs: config.commandTimeout });
  return (await import('./sqlite/index.js')).SqliteStore.open({ path: config.path, sync: config.sync });
}
