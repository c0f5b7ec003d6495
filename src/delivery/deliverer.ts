// The sending side of the core: every reply item goes out through here. It is recorded in the
// outbox before anything is sent, paced to the platform's limits, tried again under the one
// retry policy, marked delivered with the platform's ids, or kept as a dead letter.

import { setMaxListeners } from 'node:events';
import type { Adapter } from '../adapter.js';
import type { ReplyStream } from '../bot/stream.js';
import type { Delivery, OutgoingMessage } from '../message.js';
import type { Logger } from '../runtime/logger.js';
import type { Metrics } from '../runtime/metrics.js';
import type { Outbox, OutboxRecord } from '../store/index.js';
import type { ThroughOutage } from '../store/outage.js';
import type { Pacing } from './pacer.js';
import type { Trace } from '../pipeline/trace.js';
import { fatal, freshState, nextDelay, sleep, type Failure, type RetryPolicy } from './retry.js';
import { collect, defaultStreamSettings, streamLive, type LiveEnd, type StreamEnd, type StreamSettings } from './stream.js';

export interface DelivererOptions {
  adapters: ReadonlyMap<string, Adapter>;
  outbox: Outbox;
  /** Runs a bookkeeping write again once a reconnecting store is back (see store/outage.ts). */
  durable?: ThroughOutage;
  pacer: Pacing;
  policy: RetryPolicy;
  logger: Logger;
  metrics?: Metrics;
  /** Streamed replies: how long one may stall, and the notice when one fails. */
  streams?: StreamSettings;
  /** Told each item's delivery (the operator console). */
  trace?: Trace;
}

/**
 * A Delivery as the pipeline sees it: `left` when shutdown stopped it before the platform took it
 * (it is sent after the restart); `unmarked`, its key, when the platform took it and the caller,
 * not the deliverer, records that (sendAll's `finishing`).
 */
export type ItemDelivery = Delivery & { left?: true; unmarked?: string };

export class Deliverer {
  private readonly stopping = new AbortController();

  constructor(private readonly options: DelivererOptions) {
    // Every send under way listens to it (waits, requests): as many as there are chats sending at once.
    setMaxListeners(0, this.stopping.signal);
    options.metrics
      ?.describe('switchboard_deliveries_total', 'Reply items by outcome: delivered, dead (kept as a dead letter), left (for the next start)')
      .describe('switchboard_delivery_retries_total', 'Tries of a reply item after a failed one, by failure kind');
  }

  /** Shutdown: waits end now; items not yet delivered stay in the outbox for the next start. */
  stop(): void {
    this.stopping.abort(new Error('shutting down'));
  }

  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /**
   * A streamed reply: shown as it grows where its platform can (a LiveEnd: what is shown, and the
   * rest to send as a new item), else read to its end (a StreamEnd: its content, to send as one item).
   */
  stream(item: OutgoingMessage, stream: ReplyStream, log: Logger): Promise<LiveEnd | StreamEnd> {
    const settings = this.options.streams ?? defaultStreamSettings;
    const streaming = this.options.adapters.get(item.to.botId)?.streaming;
    const signal = this.stopping.signal;
    return streaming ? streamLive(streaming, item, stream, { pacer: this.options.pacer, settings, signal, log }) : collect(stream, settings, signal);
  }

  /** A streamed reply read to its end, for an onResult that must see it before it is sent. */
  collect(stream: ReplyStream): Promise<StreamEnd> {
    return collect(stream, this.options.streams ?? defaultStreamSettings, this.stopping.signal);
  }

  /**
   * Sends items one after another, so a chat sees them in order. `finishing`: the caller finishes
   * the event once these are sent, and records the last item's delivery with that finish, in one
   * write; the platform taking it is then `unmarked` in its delivery. When an item before it was
   * left for the next start (a shutdown), the event is not finished, and the last is marked here.
   */
  async sendAll(records: readonly OutboxRecord[], log: Logger, finishing = false): Promise<ItemDelivery[]> {
    const deliveries: ItemDelivery[] = [];
    const last = records.length - 1;
    for (let i = 0; i <= last; i++) deliveries.push(await this.send(records[i]!, log, finishing && i === last && !deliveries.some((d) => d.left)));
    return deliveries;
  }

  /** One item to the end: delivered, dead, or left for the next start. Never throws. */
  send(record: OutboxRecord, log: Logger, unmarked = false): Promise<ItemDelivery> {
    const { trace } = this.options;
    // One already delivered or dead (sent live, or before a restart) is not sent again: nothing to tell.
    if (!trace || record.state === 'delivered' || record.state === 'dead') return this.deliver(record, log, unmarked);
    return this.deliver(record, log, unmarked).then((delivery) => {
      trace.delivery(record.eventId, { key: record.key, message: record.message, ...delivery });
      return delivery;
    });
  }

  /** A streamed reply shown live (src/pipeline/streams.ts), recorded delivered: told to the observer as a send is. */
  shownLive(record: OutboxRecord, ids: string[], edits: number, ms: number): void {
    this.options.trace?.delivery(record.eventId, { key: record.key, message: record.message, ok: true, ids, ms, edits });
  }

  private async deliver(record: OutboxRecord, log: Logger, unmarked: boolean): Promise<ItemDelivery> {
    const started = performance.now();
    const { message, key } = record;
    const ids = [...record.ids];
    const elapsed = () => performance.now() - started;
    if (record.state === 'delivered') return { ok: true, ids, ms: 0 };
    if (record.state === 'dead') return { ok: false, ids, error: record.error ?? 'kept as a dead letter', ms: 0 };
    const adapter = this.options.adapters.get(message.to.botId);
    if (!adapter) return this.bury(record, ids, `no platform with id "${message.to.botId}"`, log, elapsed());
    const { pacer, policy, outbox } = this.options;
    const signal = this.stopping.signal;
    const state = freshState();
    for (;;) {
      let turn = pacer.reserve(message.to);
      // A shared pacer asks its store; the in-process one answers at once (no await on the hot path).
      if (typeof turn !== 'number') turn = await turn;
      if (turn > 0 ? !(await sleep(turn, signal)) : signal.aborted) return this.leave(record, ids, elapsed());
      const delivery = await adapter.send(message, { key, sent: ids.length, signal, pace: () => pacer.take(message.to, signal) });
      ids.push(...delivery.ids);
      if (delivery.ok) {
        this.count(adapter, 'delivered');
        if (unmarked) return { ok: true, ids, ms: elapsed(), unmarked: key };
        // Not waited for: the write is queued now, in order, and commits with whatever comes next in
        // this tick. A crash before that commit is the same window as a crash during the send: the
        // item goes again after the restart.
        void this.note(() => outbox.delivered(key, ids), log);
        return { ok: true, ids, ms: elapsed() };
      }
      const error = delivery.error ?? 'the platform refused it';
      await this.note(() => outbox.attempted(key, ids, error), log);
      if (signal.aborted) return this.leave(record, ids, elapsed(), error);
      const failure: Failure = delivery.failure ?? fatal;
      const wait = nextDelay(policy, state, failure);
      if (wait === undefined) return this.bury(record, ids, error, log, elapsed(), adapter);
      // The platform's limit holds for everything going its way, not only this item: what follows waits too.
      if (failure.kind === 'rate-limited') pacer.hold(message.to, failure.afterMs ?? wait, failure.scope ?? 'chat');
      this.options.metrics?.inc('switchboard_delivery_retries_total', { platform: adapter.type, kind: failure.kind });
      log.debug({ item: key, err: error, kind: failure.kind, retryInMs: wait }, 'delivery failed; trying again');
      if (!(await sleep(wait, signal))) return this.leave(record, ids, elapsed(), error);
    }
  }

  /** The policy gave up: the item is kept as a dead letter, with its error, for an operator to retry or drop. */
  private async bury(record: OutboxRecord, ids: string[], error: string, log: Logger, ms: number, adapter?: Adapter): Promise<ItemDelivery> {
    await this.note(() => this.options.outbox.dead(record.key, ids, error), log);
    // One line per dead letter; `switchboard outbox list` shows them, `retry <item>` sends one again.
    log.error({ item: record.key, to: record.message.to.channelId, target: record.message.to.botId, err: error, deadLetter: true }, 'delivery failed');
    this.options.metrics?.inc('switchboard_deliveries_total', { platform: adapter?.type ?? 'unknown', outcome: 'dead' });
    return { ok: false, ids, error, ms };
  }

  private leave(record: OutboxRecord, ids: string[], ms: number, error = 'not sent before shutdown'): ItemDelivery {
    this.options.metrics?.inc('switchboard_deliveries_total', { platform: this.options.adapters.get(record.message.to.botId)?.type ?? 'unknown', outcome: 'left' });
    return { ok: false, ids, error: `${error}; it is sent after the next start`, ms, left: true };
  }

  /** Delivered items are counted on every message: each platform's series is resolved once. */
  private readonly deliveredCounters = new Map<string, () => void>();

  private count(adapter: Adapter, outcome: 'delivered'): void {
    const { metrics } = this.options;
    if (!metrics) return;
    let bump = this.deliveredCounters.get(adapter.type);
    if (!bump) this.deliveredCounters.set(adapter.type, (bump = metrics.counter('switchboard_deliveries_total', { platform: adapter.type, outcome })));
    bump();
  }

  /** A bookkeeping write that fails (the store is failing) is logged; the send itself already happened. */
  private async note(write: () => Promise<void>, log: Logger): Promise<void> {
    try {
      await (this.options.durable ? this.options.durable(write) : write());
    } catch (error) {
      log.error({ err: (error as Error).message }, 'could not record a delivery in the store; after a restart it may be sent again');
    }
  }
}
