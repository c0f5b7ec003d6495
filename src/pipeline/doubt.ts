// Admissions whose outcome is unknown. When a networked store loses its connection while an
// admission is on its way, the event may be recorded although the platform was told to deliver it
// again, and the redelivery is then a duplicate: acknowledged, and handled by no one. So each such
// admission is kept here, and once the store is back it is looked up: a recorded event is handled
// by this process, the rest are forgotten (their redelivery was, or will be, admitted afresh).

import { errorMessage } from '../inbound/supervisor.js';
import type { Logger } from '../runtime/logger.js';
import type { Inbox } from '../store/index.js';
import type { Journal } from './journal.js';

export interface Doubtful {
  id: string;
  journal: Journal;
  onHandled?: () => void;
}

export class AdmissionsInDoubt {
  private readonly pending = new Map<string, Doubtful>();

  constructor(
    private readonly inbox: Inbox,
    private readonly logger: Logger,
    /** Handles an event found recorded. */
    private readonly take: (event: Doubtful) => void,
  ) {}

  add(event: Doubtful): void {
    this.pending.set(event.id, event);
  }

  /** Looks up every admission in doubt; what cannot be looked up now waits for the next call. */
  async settle(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    let recorded: Set<string>;
    try {
      recorded = new Set((await this.inbox.unfinished()).map((e) => e.id));
    } catch (error) {
      this.logger.warn({ events: batch.length, err: errorMessage(error) }, 'could not look up the events whose recording was in doubt; trying again when the store is back');
      return;
    }
    let taken = 0;
    for (const event of batch) {
      this.pending.delete(event.id);
      if (!recorded.has(event.id)) continue;
      taken++;
      this.take(event);
    }
    this.logger.info({ looked: batch.length, recorded: taken }, 'events whose recording was in doubt were looked up; the recorded ones are handled');
  }
}
