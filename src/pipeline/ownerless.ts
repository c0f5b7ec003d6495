// Replies no running event owns: those a crash left recorded after their event was finished or
// dropped (orphans, sent after a restart), and dead letters an operator asked to retry
// (`switchboard outbox retry`). With several instances each is sent by one of them: the one that
// claims it, and only while it is still as it was listed.

import type { Deliverer } from '../delivery/deliverer.js';
import { errorMessage } from '../inbound/supervisor.js';
import type { Logger } from '../runtime/logger.js';
import type { OutboxRecord, Store } from '../store/index.js';
import type { WorkQueue } from './work.js';

export class OwnerlessReplies {
  /** Dead letters being sent again now. */
  private readonly retrying = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly deliverer: Deliverer,
    private readonly logger: Logger,
    private readonly track: (task: Promise<unknown>) => void,
    private readonly work?: WorkQueue,
  ) {}

  /** Sends, once `gate` opens, the pending replies of events not in `owned`; resolves with how many this instance took. */
  async sendOrphans(pending: readonly OutboxRecord[], owned: ReadonlySet<string>, gate: Promise<void>): Promise<number> {
    const orphans: OutboxRecord[] = [];
    for (const record of pending) if (!owned.has(record.eventId) && (await this.claimUnsent(record))) orphans.push(record);
    if (orphans.length > 0) this.track(gate.then(() => this.deliverer.sendAll(orphans, this.logger)).finally(() => orphans.forEach((r) => this.work?.release(r.key))));
    return orphans.length;
  }

  /** Sends the dead letters an operator asked to retry. Never throws. */
  async sendRetries(): Promise<void> {
    let records: OutboxRecord[];
    try {
      records = (await this.store.outbox.list('retry', 100)).filter((r) => !this.retrying.has(r.key));
    } catch (error) {
      this.logger.warn({ err: errorMessage(error) }, 'could not read the outbox for retries');
      return;
    }
    for (const record of records) {
      if (!(await this.claimUnsent(record))) continue;
      this.retrying.add(record.key);
      const log = this.logger.child({ event: record.eventId, item: record.key });
      log.info('sending a dead letter again, as asked');
      this.track(this.deliverer.send({ ...record, state: 'pending' }, log).finally(() => {
        this.retrying.delete(record.key);
        this.work?.release(record.key);
      }));
    }
  }

  /**
   * With a shared queue, claims a listed record for this instance to send: false while another
   * holds it, or once it moved on since it was listed (that one sent it and let go of its claim).
   */
  private async claimUnsent(record: OutboxRecord): Promise<boolean> {
    const { work } = this;
    if (!work) return true;
    if (!(await work.claim(record.key))) return false;
    const now = await this.store.outbox.get(record.key).catch(() => undefined);
    if (now?.state === record.state) return true;
    work.release(record.key);
    return false;
  }
}
