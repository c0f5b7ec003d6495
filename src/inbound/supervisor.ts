import { EventEmitter } from 'node:events';
import type { ConnectionLease, HeldLease } from '../cluster/lease.js';
import type { Logger } from '../runtime/logger.js';
import type { Fence } from '../store/index.js';

/** Thrown by a session that must not be retried (a revoked token, say). */
export class FatalConnectionError extends Error {
  override readonly name = 'FatalConnectionError';
}

/** Thrown by a session to ask for a specific wait before the next attempt (e.g. a 409 or retry_after). */
export class RetryAfterError extends Error {
  override readonly name = 'RetryAfterError';
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** Thrown by a session whose fenced write was refused: another instance holds the connection now. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

export interface SessionControls {
  /** Aborted when the supervisor stops the session: on stop(), when the watchdog sees a stall, or when the lease is lost. */
  signal: AbortSignal;
  /** Call whenever the connection shows it is alive; resets the stall watchdog and the backoff. */
  alive(): void;
  /**
   * The lease the session runs under, when the connection is leased: what it saves to be resumed
   * from (an offset, a session id) goes through `store.leases.setFenced(fence, ...)`, so a holder
   * that lost the lease cannot overwrite its successor's. A refused write: throw LeaseLostError.
   */
  fence?: Fence;
}

export interface SupervisedConnection {
  name: string;
  /** Runs one session until it ends: resolve for a clean end (it is restarted at once), throw for a failure. */
  session(controls: SessionControls): Promise<void>;
  /** No `alive()` for this long means the connection is stalled: abort and restart it. */
  stallMs?: number;
}

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const defaultBackoff: BackoffPolicy = { initialMs: 500, maxMs: 60_000, factor: 2 };

/**
 * What an operator sees on /healthz: `connecting` until the connection first shows it is alive,
 * `up` once it has, `retrying` while backing off after a failure, `failed` after a failure that
 * is not retried (a revoked token), `standby` while another instance holds the connection's
 * lease, `stopped` once stopped.
 */
export type ConnectionState = 'connecting' | 'up' | 'retrying' | 'failed' | 'standby' | 'stopped';

/** "Equal jitter": a uniform wait in [cap/2, cap] keeps growing while spreading a fleet's reconnects apart. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxMs, policy.initialMs * policy.factor ** attempt);
  return Math.round(cap / 2 + (random() * cap) / 2);
}

export interface SupervisorEvents {
  /** Each change of `state`, as it happens (a state can last only a few milliseconds: watch this rather than poll). */
  state: [state: ConnectionState, previous: ConnectionState];
}

/**
 * Keeps one connection alive. Exactly one session runs at a time (single flight): a new one
 * starts only after the previous has fully settled, so a reconnect can never leave two
 * listeners behind. Failures back off exponentially with jitter; a stall is aborted and retried.
 * With a lease, sessions run only while this instance holds it (src/cluster/lease.ts): a lost
 * lease aborts the session at once and the connection stands by. Emits 'state' on every change.
 */
export class Supervisor extends EventEmitter<SupervisorEvents> {
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private current: ConnectionState = 'stopped';
  private holding: HeldLease | undefined;
  private session: AbortController | undefined;
  private restarting = false;
  /** When `state` was entered (ms since the epoch), and the last failure's message: for the operator console. */
  since = Date.now();
  lastError: string | undefined;

  constructor(
    private readonly connection: SupervisedConnection,
    private readonly logger: Logger,
    private readonly backoff: BackoffPolicy = defaultBackoff,
    private readonly lease?: ConnectionLease,
  ) {
    super();
  }

  /** Whether this instance holds the connection (always, without a lease, while running). */
  get held(): boolean {
    if (!this.lease) return this.running;
    return this.holding !== undefined && !this.holding.lost.aborted;
  }

  get running(): boolean {
    return this.loop !== undefined;
  }

  get state(): ConnectionState {
    return this.current;
  }

  start(): void {
    if (this.loop) return;
    const controller = new AbortController();
    this.controller = controller;
    this.loop = this.run(controller.signal).finally(() => {
      if (this.controller === controller) {
        this.loop = undefined;
        this.controller = undefined;
      }
    });
  }

  /** Idempotent. Resolves once the current session has ended. */
  async stop(): Promise<void> {
    const loop = this.loop;
    this.controller?.abort();
    this.wake?.();
    await loop;
    this.enter('stopped');
  }

  /**
   * An operator's restart: the current session is aborted and a new one starts at once (no backoff);
   * a connection that failed for good is started again. False when it is not running here (stopped, standby).
   */
  restart(): boolean {
    if (this.current === 'failed') {
      // Its loop may still be settling (releasing the lease): a new one starts once it has.
      void Promise.resolve(this.loop).then(() => this.current === 'failed' && this.start());
      return true;
    }
    if (!this.session || this.session.signal.aborted) return false;
    this.restarting = true;
    this.session.abort(new Error('restarted by an operator'));
    this.wake?.();
    return true;
  }

  private enter(state: ConnectionState): void {
    const previous = this.current;
    if (state === previous) return;
    this.current = state;
    this.since = Date.now();
    this.emit('state', state, previous);
  }

  private async run(stopped: AbortSignal): Promise<void> {
    try {
      await this.sessions(stopped);
    } finally {
      const holding = this.holding;
      this.holding = undefined;
      await holding?.release();
    }
  }

  /** Holds the lease (held already, or taken once granted, standing by meanwhile); false once stopped first. */
  private async hold(lease: ConnectionLease, stopped: AbortSignal): Promise<boolean> {
    if (this.holding && !this.holding.lost.aborted) return true;
    await this.holding?.release();
    this.holding = await lease.acquire(stopped, (why) => this.enter(why === 'held elsewhere' ? 'standby' : 'retrying'));
    return this.holding !== undefined;
  }

  private async sessions(stopped: AbortSignal): Promise<void> {
    const { name, stallMs } = this.connection;
    let failures = 0;
    while (!stopped.aborted) {
      // Stopped while the lease was being taken: no session may start with its stop already missed.
      if (this.lease && (!(await this.hold(this.lease, stopped)) || stopped.aborted)) break;
      const lease = this.holding;
      this.enter('connecting');
      const session = new AbortController();
      this.session = session;
      this.restarting = false;
      const onStop = () => session.abort(stopped.reason);
      const onLost = () => session.abort(lease!.lost.reason);
      stopped.addEventListener('abort', onStop, { once: true });
      lease?.lost.addEventListener('abort', onLost, { once: true });
      let watchdog: NodeJS.Timeout | undefined;
      let stalled = false;
      // A gateway shows life with every event: alive() only notes the time, and the watchdog, when
      // it fires, waits out what is left of stallMs since then (a timer moved per event costs more).
      let lastSign = Date.now();
      const check = () => {
        const quietMs = Date.now() - lastSign;
        if (quietMs < stallMs!) {
          watchdog = setTimeout(check, stallMs! - quietMs);
          return;
        }
        stalled = true;
        session.abort(new Error(`no sign of life for ${stallMs} ms`));
      };
      if (stallMs) watchdog = setTimeout(check, stallMs);
      let waitMs = 0;
      try {
        await this.connection.session({
          signal: session.signal,
          alive: () => {
            failures = 0;
            this.enter('up');
            lastSign = Date.now();
          },
          fence: lease?.fence,
        });
        if (stalled) throw session.signal.reason;
      } catch (error) {
        if (stopped.aborted) break;
        if (this.restarting) {
          this.restarting = false;
          failures = 0;
          continue;
        }
        if (lease && (lease.lost.aborted || error instanceof LeaseLostError)) {
          lease.lose(error as Error);
          continue;
        }
        this.lastError = errorMessage(error);
        if (error instanceof FatalConnectionError) {
          this.enter('failed');
          this.logger.error({ connection: name, err: error.message }, 'connection failed for good; not retrying');
          break;
        }
        this.enter('retrying');
        const reason = stalled ? `stalled: ${(session.signal.reason as Error).message}` : errorMessage(error);
        waitMs = error instanceof RetryAfterError ? error.retryAfterMs : backoffDelay(failures, this.backoff);
        failures++;
        this.logger.warn({ connection: name, attempt: failures, retryInMs: waitMs, err: reason }, 'connection lost; reconnecting');
      } finally {
        if (watchdog) clearTimeout(watchdog);
        stopped.removeEventListener('abort', onStop);
        lease?.lost.removeEventListener('abort', onLost);
      }
      if (waitMs > 0) await this.sleep(waitMs, stopped);
    }
  }

  private sleep(ms: number, stopped: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (stopped.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
