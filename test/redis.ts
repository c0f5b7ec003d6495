// Tests that need Redis use REDIS_URL, else 127.0.0.1:6379, each file under its own key prefix.
// No Redis is a failure with the way to start one, never a silent skip.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { waitFor } from './helpers.js';

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

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A redis-server of a test's own on a free port, configured as production should be: every write
 * appended to a file in `dir` and fsynced before it is acknowledged, so a restart (after a
 * SIGKILL too) keeps everything Redis acknowledged.
 */
export class OwnRedis {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly password: string | undefined,
  ) {}

  /** With `password`, clients must give it (requirepass). */
  static async start(dir: string, password?: string): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort(), dir, password);
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://${this.password ? `:${encodeURIComponent(this.password)}@` : ''}127.0.0.1:${this.port}`;
  }

  /** Starts it (again) on its port, on the data it kept; resolves once it answers PING. */
  async restart(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir, ...(this.password ? ['--requirepass', this.password] : [])], { stdio: 'ignore' });
    this.child = child;
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`redis-server on port ${this.port} exited (${code}) while starting`))));
    await Promise.race([exited, waitFor(() => this.answers(), 10_000, `redis-server on port ${this.port}`)]);
  }

  /** SIGSTOP: still connected, answering nothing, as a Redis that hangs or a path that drops packets. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** SIGCONT: it answers again, the commands that waited first. */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGKILL, as a crash or the OOM killer would; resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  }

  private async answers(): Promise<boolean> {
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  }
}
