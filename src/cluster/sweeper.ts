// Queues again what was admitted but never queued: an ingress that died between recording an
// event and queueing it, or a queue that refused the add. One instance sweeps at a time (a claim
// for the period). Only events older than the last sweep are taken, so one just admitted, whose
// ingress is queueing it right now, or one whose onSent is still running, is left alone. Queueing
// is idempotent (the job id is the event id), so sweeping an event that is queued costs nothing.

import { errorMessage } from '../inbound/supervisor.js';
import type { Logger } from '../runtime/logger.js';
import type { Store, StoredEvent } from '../store/index.js';

const claimKey = 'cluster:sweep';
/** The highest admission seq the last sweep saw: events at or below it are at least one period old. */
const markKey = 'cluster:sweep:seen';

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly requeue: (event: StoredEvent) => Promise<void>,
    private readonly logger: Logger,
    readonly periodMs: number,
  ) {}

  /** Sweeps now, then every period. */
  start(): void {
    void this.sweep();
    this.timer = setInterval(() => void this.sweep(), this.periodMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** How many events were queued again; 0 when another instance swept within the period. Never throws. */
  async sweep(): Promise<number> {
    try {
      if (!(await this.store.claim(claimKey, this.periodMs * 0.9))) return 0;
      const seen = (await this.store.get<number>(markKey)) ?? 0;
      const events = await this.store.inbox.unfinished();
      // In admission order, one after the other: a chat's events are queued in their order.
      let requeued = 0;
      for (const event of events) {
        if (event.seq > seen) break;
        await this.requeue(event);
        requeued++;
      }
      await this.store.set(markKey, events.at(-1)?.seq ?? seen);
      if (requeued > 0) this.logger.info({ events: requeued }, 'queued unfinished events again (those already queued are left as they are)');
      return requeued;
    } catch (error) {
      this.logger.warn({ err: errorMessage(error) }, 'could not sweep for unqueued events; trying again later');
      return 0;
    }
  }
}
