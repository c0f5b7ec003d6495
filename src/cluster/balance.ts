// Spreading a platform's connections (a sharded gateway's shards), or the work queues' partitions,
// over the instances that share the store. Leases alone are first come, first served, so one
// instance would take them all. Every instance announces itself every ttl/4 on its roster, so
// each knows how many are live (M); of a group of k leases it holds at most ceil(k / M): holding
// its share, it lets a free lease go to an instance below its share first (it waits ttl/2 before
// asking, and still takes a lease no one else took); holding more (an instance joined), it
// releases the surplus (one a ttl for shards, all at once for partitions) and leaves it a while.
// A release is signalled, so the instances standing by ask for it at once.

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Leases, Signals } from '../store/index.js';
import type { Logger } from '../runtime/logger.js';
import { ConnectionLease, type LeaseBalance } from './lease.js';

export interface BalancerOptions {
  /** Who is counted: instances that hold connections (`instances`, the default), or instances that run workers. */
  roster?: string;
  /**
   * Leases past its share released at a time, one step a ttl: 1 (the default) for connections whose
   * sessions are costly to start (a shard's identify), all at once for what is cheap to hand over.
   */
  releaseStep?: number;
  /** Where a released lease is announced, so instances standing by ask for it at once rather than at their next try. */
  signals?: Signals;
}

/** This instance's connection leases, by group, and its presence among the instances that share the store. */
export class Balancer {
  private readonly id = `${hostname()}:${process.pid}:${randomUUID()}`;
  private readonly groups = new Map<string, LeaseGroup>();
  private live = 1;
  private heartbeat: NodeJS.Timeout | undefined;
  private announcing: Promise<void> | undefined;

  constructor(
    private readonly leases: Leases,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly options: BalancerOptions = {},
  ) {
    this.roster = options.roster ?? 'instances';
    this.releasedTopic = `lease-released:${this.roster}`;
  }

  private readonly roster: string;
  private readonly releasedTopic: string;
  private unwatch: (() => void) | undefined;

  /** The lease of one connection of `group` (one platform's connections: every instance runs the same ones). */
  lease(group: string, connection: string, logger: Logger): ConnectionLease {
    const members = this.groups.get(group) ?? new LeaseGroup(group, () => this.live, this.ttlMs, this.logger, this.options.releaseStep, () => this.announceRelease());
    this.groups.set(group, members);
    const lease = new ConnectionLease(this.leases, connection, this.ttlMs, logger, Math.random, members);
    members.add(lease);
    return lease;
  }

  /** Announces this instance, then again every ttl/4, each time releasing a surplus lease if it holds more than its share. */
  async start(): Promise<void> {
    const { signals } = this.options;
    if (signals) this.unwatch = await signals.watch(this.releasedTopic, () => void this.onReleased());
    await this.announce();
    this.heartbeat = setInterval(() => void this.announce(), this.ttlMs / 4).unref();
  }

  /** Withdraws at once, so the others count without this instance as it shuts down. */
  async stop(): Promise<void> {
    if (!this.heartbeat) return;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.unwatch?.();
    await this.leases.withdraw(this.id, this.roster).catch(() => {});
  }

  private announceRelease(): void {
    // A lost signal costs only the wait until the standbys' next try.
    void this.options.signals?.notify(this.releasedTopic).catch(() => {});
  }

  /**
   * A lease was released elsewhere. Counted again first: an instance that stops withdraws before it
   * releases, and with the old count this one would leave the lease to it (its share unchanged)
   * until its next heartbeat, a deferral later.
   */
  private async onReleased(): Promise<void> {
    await this.announcing; // one begun before the signal may have counted the instance that is leaving
    await this.announce();
    for (const group of this.groups.values()) group.wake();
  }

  private announce(): Promise<void> {
    // A store slower than a heartbeat: one announcement at a time.
    this.announcing ??= this.count().finally(() => (this.announcing = undefined));
    return this.announcing;
  }

  private async count(): Promise<void> {
    try {
      // Counted for ttl/2 (two heartbeats): a dead instance drops out before its leases (ttl) run out,
      // so the survivors take them over as they expire, not a deferral later.
      const live = Math.max(1, await this.leases.announce(this.id, this.ttlMs / 2, this.roster));
      if (live !== this.live) this.logger.info({ roster: this.roster, instances: live }, 'instances sharing the leases changed');
      this.live = live;
    } catch (error) {
      // Counting on the last known number: an unreachable store also keeps every lease from being taken or renewed.
      this.logger.warn({ err: (error as Error).message }, 'cannot announce this instance to the store; trying again');
    }
    for (const group of this.groups.values()) group.rebalance();
  }
}

/** One platform's connection leases on this instance. */
export class LeaseGroup implements LeaseBalance {
  private readonly members: ConnectionLease[] = [];
  private releasedAt = -Infinity;

  constructor(
    private readonly name: string,
    private readonly instances: () => number,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly releaseStep = 1,
    readonly released: () => void = () => {},
  ) {}

  add(lease: ConnectionLease): void {
    this.members.push(lease);
  }

  /** How many of the group's connections this instance should hold at most. */
  get share(): number {
    return Math.ceil(this.members.length / this.instances());
  }

  get held(): number {
    return this.members.filter((lease) => lease.held).length;
  }

  deferMs(): number {
    const claimed = this.members.filter((lease) => lease.claimed).length;
    return claimed >= this.share ? this.ttlMs / 2 : 0;
  }

  /** Its leases that wait to ask again do so now. */
  wake(): void {
    for (const lease of this.members) if (!lease.held) lease.wake();
  }

  /** Releases leases past this instance's share (`releaseStep` at most a ttl), and keeps them from being asked for again for a ttl. */
  rebalance(): void {
    const { held, share } = this;
    if (held <= share || Date.now() - this.releasedAt < this.ttlMs) return;
    const surplus = this.members.filter((lease) => lease.held).slice(-Math.min(held - share, this.releaseStep));
    this.releasedAt = Date.now();
    this.logger.info({ group: this.name, leases: surplus.map((lease) => lease.name), held, share, instances: this.instances() }, 'holding more than this instance\'s share; releasing for another instance');
    for (const lease of surplus) lease.yield(this.ttlMs);
  }
}
