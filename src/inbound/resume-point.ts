// Where a connection resumes from (a gateway session and the sequence of its last event
// acknowledged), kept in the store: Switchboard started again, after a crash too, or another
// instance taking the connection over, resumes the session and the platform replays what it
// missed, instead of starting a new session and losing it. Written once a turn of the event loop,
// of the latest state: a burst of events acknowledged costs one write, not one each. A leased
// connection writes under its lease (`fence`), so a holder that lost it cannot overwrite what its
// successor keeps; a refused write ends the session (onRefused).

import { setImmediate as nextTurn } from 'node:timers/promises';
import { errorMessage, LeaseLostError } from './supervisor.js';
import type { Logger } from '../runtime/logger.js';
import type { Fence, Store } from '../store/index.js';

export class KeptResumePoint<T> {
  private snapshot: (() => T) | undefined;
  private writing: Promise<void> | undefined;
  private fence: Fence | undefined;
  private refused: ((error: LeaseLostError) => void) | undefined;

  constructor(
    private readonly store: Pick<Store, 'get' | 'set' | 'leases'>,
    /** Names the platform and connection, e.g. `<type>:<platform id>:gateway`. */
    private readonly key: string,
    private readonly logger: Logger,
  ) {}

  /**
   * What was kept last, by this process or another; undefined when nothing was, or the store cannot
   * be read (the connection then starts afresh). `fence`: the lease the session now starting holds
   * the connection under; what it keeps is written under it. `fallback`: read when the key holds
   * nothing (where an earlier version kept it).
   */
  async load(fence?: Fence, fallback?: () => Promise<T | undefined>): Promise<T | undefined> {
    this.fence = fence;
    this.refused = undefined;
    try {
      return (await this.store.get<T>(this.key)) ?? (await fallback?.());
    } catch (error) {
      this.logger.warn({ err: errorMessage(error) }, 'could not read the kept gateway session; identifying afresh');
      return undefined;
    }
  }

  /** Keeps what `snapshot` returns when the write runs (later in this turn): a copy of the state, not the live object. */
  save(snapshot: () => T): void {
    this.snapshot = snapshot;
    this.writing ??= this.write();
  }

  /** Told when a write is refused because another instance holds the connection now: the session must end. */
  onRefused(listener: (error: LeaseLostError) => void): void {
    this.refused = listener;
  }

  /** Waits for the last write. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async write(): Promise<void> {
    while (this.snapshot) {
      // What is told in this turn (one socket read holds many events) goes in one write: a store
      // that answers within the turn (memory) would otherwise be written once per event.
      await nextTurn();
      const value = this.snapshot();
      this.snapshot = undefined;
      try {
        if (!(await this.keep(value))) {
          // The successor resumes from what it keeps; this instance's session is over.
          this.snapshot = undefined;
          this.refused?.(new LeaseLostError('another instance holds the connection now'));
        }
      } catch (error) {
        // The next start then resumes from an earlier event (replayed events are deduplicated), or starts afresh.
        this.logger.warn({ err: errorMessage(error) }, 'could not keep the gateway session in the store');
      }
    }
    this.writing = undefined;
  }

  /** False when the write was refused: another instance was given the connection's lease since. */
  private keep(value: T): Promise<boolean> {
    if (!this.fence) return this.store.set(this.key, value).then(() => true);
    return this.store.leases.setFenced(this.fence, this.key, value);
  }
}
