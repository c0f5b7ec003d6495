// Leases on Redis: SET NX PX takes a lease and INCR hands out its fencing token, in one script;
// renewing, releasing and fenced writes check the owner or the token on the server (scripts.ts).
// The live instances are a sorted set per roster (`instances`, `workers`) scored by when each
// one's announcement runs out.

import type { Redis } from 'ioredis';
import { encode } from '../codec.js';
import type { Fence, LeaseGrant, Leases } from '../index.js';
import * as lua from './scripts.js';

type LeaseCommands = {
  sbLeaseAcquire(lease: string, fence: string, owner: string, ttlMs: number): Promise<[number, number]>;
  sbLeaseRenew(lease: string, owner: string, ttlMs: number): Promise<number>;
  sbLeaseRelease(lease: string, owner: string): Promise<number>;
  sbFencedSet(fence: string, key: string, token: number, value: string, ttlMs: number | ''): Promise<number>;
  sbAnnounce(instances: string, instance: string, ttlMs: number): Promise<number>;
};

export type LeaseRedis = Redis & LeaseCommands;

export function defineLeaseCommands(redis: Redis): void {
  redis.defineCommand('sbLeaseAcquire', { numberOfKeys: 2, lua: lua.leaseAcquire });
  redis.defineCommand('sbLeaseRenew', { numberOfKeys: 1, lua: lua.leaseRenew });
  redis.defineCommand('sbLeaseRelease', { numberOfKeys: 1, lua: lua.leaseRelease });
  redis.defineCommand('sbFencedSet', { numberOfKeys: 2, lua: lua.fencedSet });
  redis.defineCommand('sbAnnounce', { numberOfKeys: 1, lua: lua.announce });
}

interface RedisAccess {
  readonly redis: LeaseRedis;
  key(name: string): string;
  call<T>(run: () => Promise<T>): Promise<T>;
}

export class RedisLeases implements Leases {
  constructor(private readonly store: RedisAccess) {}

  async acquire(name: string, owner: string, ttlMs: number): Promise<LeaseGrant> {
    const { store } = this;
    const [granted, n] = await store.call(() => store.redis.sbLeaseAcquire(store.key(`lease:${name}`), store.key(`fence:${name}`), owner, ms(ttlMs)));
    return granted === 1 ? { granted: true, fence: n } : { granted: false, expiresInMs: Math.max(0, n) };
  }

  async renew(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const { store } = this;
    return (await store.call(() => store.redis.sbLeaseRenew(store.key(`lease:${name}`), owner, ms(ttlMs)))) === 1;
  }

  async release(name: string, owner: string): Promise<void> {
    const { store } = this;
    await store.call(() => store.redis.sbLeaseRelease(store.key(`lease:${name}`), owner));
  }

  async setFenced(fence: Fence, key: string, value: unknown, ttlMs?: number): Promise<boolean> {
    const { store } = this;
    const text = encode(value);
    const ttl = ttlMs === undefined || !Number.isFinite(ttlMs) ? '' : ms(ttlMs);
    return (await store.call(() => store.redis.sbFencedSet(store.key(`fence:${fence.lease}`), store.key(`kv:${key}`), fence.token, text, ttl))) === 1;
  }

  async announce(instance: string, ttlMs: number, roster = 'instances'): Promise<number> {
    const { store } = this;
    return await store.call(() => store.redis.sbAnnounce(store.key(roster), instance, ms(ttlMs)));
  }

  async withdraw(instance: string, roster = 'instances'): Promise<void> {
    const { store } = this;
    await store.call(() => store.redis.zrem(store.key(roster), instance));
  }
}

function ms(value: number): number {
  return Math.max(1, Math.round(value));
}
