// Tests that need Redis use REDIS_URL, else 127.0.0.1:6379, each file under its own key prefix.
// No Redis is a failure with the way to start one, never a silent skip.

import { Redis } from 'ioredis';

export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let counter = 0;
/** A key prefix no other test (file, run, process) uses. */
export function testPrefix(name: string): string {
  return `sbtest:${name}:${process.pid}:${Date.now().toString(36)}:${++counter}:`;
}

export async function requireRedis(): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`these tests need Redis at ${redisUrl} (${(error as Error).message}): start one with \`redis-server --daemonize yes --port 6379\`, or set REDIS_URL`);
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key under `prefix`. */
export async function dropPrefix(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 0 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
