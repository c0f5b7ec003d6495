// Holding a connection's lease: one instance of many holds `conn:<connection name>` at a time.
// The holder renews it every ttl/3 and gives up BEFORE it could have expired on the server (a
// safety margin for clock drift and pauses), so its session is over by the time another instance
// can take the lease. Instances that are refused stand by and try again, the moment the holder's
// lease would run out at the latest.

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Fence, Leases } from '../store/index.js';
import type { Logger } from '../runtime/logger.js';

/** Who holds a lease, as an operator reading Redis sees it: this machine and process, then one id per grant. */
const instance = `${hostname()}:${process.pid}`;

/** Why a lease is not held yet: another instance holds it, or the store cannot be asked. */
export type Waiting = 'held elsewhere' | 'store failing';

/** How a lease shares out with its group (src/cluster/balance.ts); without one, a free lease is taken at once. */
export interface LeaseBalance {
  /** How long to leave a free lease to other instances before asking for it (0: ask now). */
  deferMs(): number;
  /** This instance gave a lease of the group up: the instances standing by may ask for it now. */
  released(): void;
}

const unbalanced: LeaseBalance = { deferMs: () => 0, released: () => {} };

/** A lease this instance holds. `lost` aborts once it may no longer hold it. */
export interface HeldLease {
  readonly fence: Fence;
  readonly lost: AbortSignal;
  /** Ends the holding at once (a session found its lease taken), without asking the store. */
  lose(reason: Error): void;
  /** Stops renewing and gives the lease up, so another instance can take it without waiting for the TTL. */
  release(): Promise<void>;
}

export class ConnectionLease {
  readonly name: string;
  private holding: Holding | undefined;
  /** Released for another instance to take: not asked for again before this moment. */
  private notBefore = 0;
  /** Asking the store for it now: counted as held by its group, so two free leases are not both taken at once past a share. */
  private asking = false;
  /** Ends the wait before the next try, if it is waiting. */
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly leases: Leases,
    connection: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
    private readonly balance: LeaseBalance = unbalanced,
  ) {
    this.name = `conn:${connection}`;
  }

  /** Resolves once the lease is held, or with undefined once `stopped` aborts; `waiting` is told each time it is not granted. */
  async acquire(stopped: AbortSignal, waiting: (why: Waiting) => void): Promise<HeldLease | undefined> {
    let standing = false;
    /** Leaving the lease to instances below their share until then (cleared once another instance is found holding it). */
    let deferUntil: number | undefined;
    while (!stopped.aborted) {
      const holdOffMs = this.notBefore - Date.now();
      const deferMs = this.balance.deferMs();
      if (deferMs > 0) deferUntil ??= Date.now() + deferMs;
      // Looked at again every ttl/6: a share that grew (an instance gone) ends the deferral early.
      const idleMs = holdOffMs > 0 ? holdOffMs : deferMs > 0 ? Math.min(deferUntil! - Date.now(), this.ttlMs / 6) : 0;
      if (idleMs > 0) {
        waiting('held elsewhere');
        await this.sleep(idleMs, stopped);
        continue;
      }
      const owner = `${instance}:${randomUUID()}`;
      const askedAt = Date.now();
      let waitMs = this.retryMs();
      this.asking = true;
      try {
        const grant = await this.leases.acquire(this.name, owner, this.ttlMs).finally(() => (this.asking = false));
        if (stopped.aborted) {
          if (grant.granted) await this.leases.release(this.name, owner).catch(() => {});
          break;
        }
        if (grant.granted) {
          this.logger.info({ lease: this.name, fence: grant.fence }, 'connection lease taken: this instance holds the connection');
          this.holding = new Holding(this.leases, { lease: this.name, token: grant.fence }, owner, this.ttlMs, askedAt, this.logger, () => this.balance.released());
          return this.holding;
        }
        deferUntil = undefined;
        if (!standing) this.logger.info({ lease: this.name, heldForMs: grant.expiresInMs }, 'another instance holds the connection; standing by');
        standing = true;
        // Right when the holder's lease would run out (a dead holder stops renewing), with a little jitter.
        if (grant.expiresInMs > 0) waitMs = Math.min(waitMs, grant.expiresInMs + Math.round(this.random() * 50));
        waiting('held elsewhere');
      } catch (error) {
        this.logger.warn({ lease: this.name, err: (error as Error).message }, 'cannot ask the store for the connection lease; trying again');
        waiting('store failing');
      }
      await this.sleep(waitMs, stopped);
    }
    return undefined;
  }

  /** Asks again now if it is waiting to (a lease of its group was released elsewhere); a lease held back by notBefore or a deferral stays so. */
  wake(): void {
    this.wakeUp?.();
  }

  private async sleep(ms: number, stopped: AbortSignal): Promise<void> {
    const woken = new AbortController();
    this.wakeUp = () => woken.abort();
    try {
      await sleep(ms, AbortSignal.any([stopped, woken.signal]));
    } finally {
      this.wakeUp = undefined;
    }
  }

  /** Whether this instance holds the lease now. */
  get held(): boolean {
    return this.holding !== undefined && !this.holding.lost.aborted;
  }

  /** Held, or being asked for. */
  get claimed(): boolean {
    return this.asking || this.held;
  }

  /**
   * Gives the lease up for another instance to take, and asks for it again no sooner than
   * `holdOffMs` from now. The session is stopped first: its supervisor releases the lease once
   * the session has ended, so the next holder never overlaps it.
   */
  yield(holdOffMs: number): void {
    this.notBefore = Date.now() + holdOffMs;
    this.holding?.end(new Error('handed over to another instance'));
  }

  /** About ttl/3, spread so a fleet of standbys does not ask in step. */
  private retryMs(): number {
    return Math.round((this.ttlMs / 3) * (0.75 + this.random() * 0.5));
  }
}

class Holding implements HeldLease {
  private readonly controller = new AbortController();
  readonly lost = this.controller.signal;
  /** Past this moment the lease may have expired on the server: renewals failed for too long. */
  private guard: NodeJS.Timeout | undefined;
  private renewal: NodeJS.Timeout | undefined;
  private readonly marginMs: number;
  private released = false;

  constructor(
    private readonly leases: Leases,
    readonly fence: Fence,
    private readonly owner: string,
    private readonly ttlMs: number,
    grantedAt: number,
    private readonly logger: Logger,
    private readonly onReleased: () => void,
  ) {
    this.marginMs = Math.max(ttlMs / 5, 200);
    this.holdUntil(grantedAt);
    this.scheduleRenewal();
  }

  lose(reason: Error): void {
    if (this.lost.aborted) return;
    this.logger.warn({ lease: this.fence.lease, fence: this.fence.token, err: reason.message }, 'connection lease lost: ending the session and standing by');
    this.end(reason);
  }

  /** Ends the holding without a word: the session stops, and its supervisor releases the lease once it has. */
  end(reason: Error): void {
    if (this.lost.aborted) return;
    this.stopTimers();
    this.controller.abort(reason);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stopTimers();
    if (!this.lost.aborted) this.controller.abort(new Error('the lease was released'));
    // Even a lease given up for lost may still be this owner's on the server: freeing it lets another take over sooner.
    try {
      await this.leases.release(this.fence.lease, this.owner);
      this.logger.info({ lease: this.fence.lease }, 'connection lease released');
      this.onReleased();
    } catch (error) {
      this.logger.warn({ lease: this.fence.lease, err: (error as Error).message }, 'could not release the connection lease; another instance takes it once it expires');
    }
  }

  /** A grant or renewal asked for at `askedAt` holds, on the server, until at least askedAt + ttl; stop short of it by the margin. */
  private holdUntil(askedAt: number): void {
    if (this.guard) clearTimeout(this.guard);
    const deadline = askedAt + this.ttlMs - this.marginMs;
    this.guard = setTimeout(() => this.lose(new Error(`not renewed for ${Date.now() - askedAt} ms; it may expire in ${this.marginMs} ms`)), Math.max(0, deadline - Date.now()));
  }

  private scheduleRenewal(): void {
    this.renewal = setTimeout(() => void this.renew(), this.ttlMs / 3);
  }

  private async renew(): Promise<void> {
    const askedAt = Date.now();
    try {
      const held = await this.leases.renew(this.fence.lease, this.owner, this.ttlMs);
      if (this.lost.aborted) return;
      if (!held) return this.lose(new Error('another instance holds it now'));
      this.holdUntil(askedAt);
    } catch (error) {
      if (this.lost.aborted) return;
      this.logger.warn({ lease: this.fence.lease, err: (error as Error).message }, 'could not renew the connection lease; trying again');
    }
    this.scheduleRenewal();
  }

  private stopTimers(): void {
    clearTimeout(this.guard);
    clearTimeout(this.renewal);
  }
}

function sleep(ms: number, stopped: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (stopped.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      stopped.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    stopped.addEventListener('abort', done, { once: true });
  });
}
