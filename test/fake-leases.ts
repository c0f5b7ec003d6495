// Leases as Redis keeps them, on whatever clock the test runs (vitest's fake one), for the
// lease and balancing tests.

import type { Fence, LeaseGrant, Leases } from '../src/store/index.js';

/** Leases as Redis keeps them, on the (fake) clock; `failing` makes every call fail as an unreachable store would. */
export class FakeLeases implements Leases {
  failing = false;
  readonly holders = new Map<string, { owner: string; expires: number }>();
  private readonly fences = new Map<string, number>();

  async acquire(name: string, owner: string, ttlMs: number): Promise<LeaseGrant> {
    this.check();
    const holder = this.live(name);
    if (holder) return { granted: false, expiresInMs: holder.expires - Date.now() };
    const fence = (this.fences.get(name) ?? 0) + 1;
    this.fences.set(name, fence);
    this.holders.set(name, { owner, expires: Date.now() + ttlMs });
    return { granted: true, fence };
  }

  async renew(name: string, owner: string, ttlMs: number): Promise<boolean> {
    this.check();
    const holder = this.live(name);
    if (holder?.owner !== owner) return false;
    holder.expires = Date.now() + ttlMs;
    return true;
  }

  async release(name: string, owner: string): Promise<void> {
    this.check();
    if (this.live(name)?.owner === owner) this.holders.delete(name);
  }

  async setFenced(fence: Fence): Promise<boolean> {
    this.check();
    return fence.token >= (this.fences.get(fence.lease) ?? 0);
  }

  /** Live instances by when each one's announcement runs out. */
  readonly instances = new Map<string, number>();

  async announce(instance: string, ttlMs: number): Promise<number> {
    this.check();
    this.instances.set(instance, Date.now() + ttlMs);
    for (const [id, expires] of this.instances) if (expires <= Date.now()) this.instances.delete(id);
    return this.instances.size;
  }

  async withdraw(instance: string): Promise<void> {
    this.instances.delete(instance);
  }

  /** Another instance takes the lease (as after this one's expired unseen). */
  steal(name: string): void {
    this.holders.set(name, { owner: 'someone else', expires: Date.now() + 60_000 });
    this.fences.set(name, (this.fences.get(name) ?? 0) + 1);
  }

  private live(name: string) {
    const holder = this.holders.get(name);
    return holder && holder.expires > Date.now() ? holder : undefined;
  }

  private check(): void {
    if (this.failing) throw new Error('connect ECONNREFUSED');
  }
}
