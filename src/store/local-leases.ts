// Leases of a store that serves one process (memory, SQLite): no other instance can hold a
// connection, so every request is granted. Fencing tokens still grow, and a write under an older
// one is still refused, so sessions behave the same on every store.

import type { Fence, KeyValue, LeaseGrant, Leases } from './index.js';

export class LocalLeases implements Leases {
  private readonly fences = new Map<string, number>();

  constructor(private readonly kv: KeyValue) {}

  async acquire(name: string): Promise<LeaseGrant> {
    const fence = (this.fences.get(name) ?? 0) + 1;
    this.fences.set(name, fence);
    return { granted: true, fence };
  }

  async renew(): Promise<boolean> {
    return true;
  }

  async release(): Promise<void> {}

  async setFenced(fence: Fence, key: string, value: unknown, ttlMs?: number): Promise<boolean> {
    if (fence.token < (this.fences.get(fence.lease) ?? 0)) return false;
    await this.kv.set(key, value, ttlMs);
    return true;
  }

  /** This process is the only instance. */
  async announce(): Promise<number> {
    return 1;
  }

  async withdraw(): Promise<void> {}
}
