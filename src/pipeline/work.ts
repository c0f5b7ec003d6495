// The seam between the pipeline and shared work (src/cluster): where admitted events run when
// several instances share them, and what orders them.

import type { Journal } from './journal.js';

/** Where admitted events run when several instances share the work (src/cluster). */
export interface WorkQueue {
  /**
   * Queues an admitted event; resolves once queued. Events with the same `chat` run one at a time,
   * in the order queued; a platform event has none. `onHandled` is called here once it is handled, wherever.
   * `again`: it may have run before (found recorded after a failed admission), so it is resumed, not started afresh.
   */
  enqueue(id: string, chat: string | undefined, onHandled?: () => void, again?: boolean): Promise<void>;
  /** A redelivery of the event admitted with `key`: queued again, should its ingress have died before queueing it. Never throws. */
  requeue(botId: string, key: string): Promise<void>;
  /** True for the one instance that is to send `record` (a retried dead letter, a reply with no event left), until released. */
  claim(record: string): Promise<boolean>;
  release(record: string): void;
}

/** What orders an event: the chat of a message (its messages run one at a time); a platform event has none. */
export function chatOf(journal: Journal): string | undefined {
  return journal.stage === 'event' ? undefined : `${journal.message.botId}\0${journal.message.channel.id}`;
}
