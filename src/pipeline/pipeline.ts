// Admission and scheduling (DESIGN.md, "Lifecycle of one inbound message"): an event is
// recorded in the inbox before the platform is answered, then handled in the background, one
// at a time per chat; events a crash left unfinished are resumed before new ones are taken.
// With a shared work queue (several instances on Redis, src/cluster) admitted events are handed
// to it instead, and its workers call runQueued.

import { randomUUID } from 'node:crypto';
import type { Adapter, Admission, InboundEvent } from '../adapter.js';
import type { Bot } from '../bot/bot.js';
import type { Downloader } from '../bot/context.js';
import type { InterceptDecision, PlatformEvent } from '../bot/events.js';
import { Deliverer } from '../delivery/deliverer.js';
import { Pacer, type Pacing, type SendLimits } from '../delivery/pacer.js';
import { defaultRetryPolicy, type RetryPolicy } from '../delivery/retry.js';
import type { StreamSettings } from '../delivery/stream.js';
import { errorMessage } from '../inbound/supervisor.js';
import type { Message } from '../message.js';
import type { Logger } from '../runtime/logger.js';
import type { Metrics } from '../runtime/metrics.js';
import type { Store, StoredEvent } from '../store/index.js';
import { throughOutage, type ThroughOutage } from '../store/outage.js';
import { AdmissionsInDoubt, type Doubtful } from './doubt.js';
import { OwnerlessReplies } from './ownerless.js';
import { MessageHandler, type RunEnd } from './handle.js';
import { ChatQueues } from './chat-queues.js';
import type { EventJournal, Journal, MessageJournal } from './journal.js';
import type { StageHooks } from './lifecycle.js';
import type { UserLimits } from './limits.js';
import { PlatformEvents } from './platform-events.js';
import { Slots } from './slots.js';
import { Prompts, type Resumption, type SharedWaits } from './prompts.js';
import { ReplayableEvents } from './replayable.js';
import { replayableEventId } from './event-id.js';
import { Tally } from './tally.js';
import type { Trace } from './trace.js';
import { chatOf, type WorkQueue } from './work.js';

export interface PipelineOptions {
  bot: Bot;
  adapters: ReadonlyMap<string, Adapter>;
  store: Store;
  logger: Logger;
  metrics?: Metrics;
  hooks?: StageHooks;
  dedupTtlMs?: number;
  download?: Downloader;
  /** Messages handled at once; past it, dispatch waits for a slot (backpressure on the platform). */
  maxInFlight?: number;
  /** How a failed send is tried again. */
  retryPolicy?: RetryPolicy;
  /** Streamed replies: how long one may stall, and the notice when one fails. */
  streams?: StreamSettings;
  /** The send limits of each platform; by default what its adapter declares. */
  limits?: (botId: string) => SendLimits | undefined;
  /** Makes the pacer from those limits; by default this process's own (Pacer). */
  pacing?: (limitsOf: (botId: string) => SendLimits | undefined) => Pacing;
  /** Hands admitted events to workers shared by several instances; by default they run here. */
  work?: WorkQueue;
  /** Per-user limits, checked before onMessage (src/pipeline/limits.ts); none by default. */
  userLimits?: UserLimits;
  /** With shared work: prompts' waits recorded in the store, and answers handed to the instance that asked. */
  sharedWaits?: SharedWaits;
  /** Told what happens to each message (the operator console). */
  trace?: Trace;
  /** How long a replayable event may run unrecorded before it is recorded (replayable.ts); 1 s by default. */
  replayGraceMs?: number;
}

/** What a dispatch is told once Switchboard is closing: one promise for them all. */
const refused: Promise<Admission> = Promise.resolve('closed');

const noDownloads: Downloader = async () => {
  throw new Error('downloads are not configured');
};

export class Pipeline {
  readonly deliverer: Deliverer;
  /** Bookkeeping writes that wait out a moment's outage of a networked store. */
  private readonly durable: ThroughOutage;
  private readonly handler: MessageHandler;
  private readonly prompts: Prompts;
  private readonly events: PlatformEvents;
  /** Background work (prompts answered, onSent, resumed events…) still running. */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Messages queued or running, one at a time per chat; each holds a slot until it is done. */
  private readonly chats: ChatQueues;
  private closed = false;
  /** Messages admitted or being handled, against maxInFlight. */
  private readonly slots: Slots;
  /** Replies no running event owns: orphans after a restart, dead letters an operator retries. */
  private readonly ownerless: OwnerlessReplies;
  private readonly dedupTtlMs: number;
  /** Dispatches between their start and their admission. */
  private readonly admitting = new Tally();
  private readonly inDoubt: AdmissionsInDoubt;
  /** Replayable events taken before they are recorded. */
  private readonly replayable: ReplayableEvents;

  constructor(private readonly options: PipelineOptions) {
    this.dedupTtlMs = options.dedupTtlMs ?? 3_600_000;
    this.slots = new Slots(options.maxInFlight ?? 1000);
    const { adapters, store, logger, metrics } = options;
    this.chats = new ChatQueues(logger, () => this.slots.release());
    metrics?.describe('switchboard_events_unrecorded_total', 'Events a platform handed over that the store could not record: refused, for the platform to deliver again');
    this.inDoubt = new AdmissionsInDoubt(store.inbox, logger, (event) => this.takeDoubtful(event));
    store.onAvailability?.((available) => {
      if (available && !this.closed) void this.inDoubt.settle();
    });
    const limitsOf = options.limits ?? ((botId: string) => adapters.get(botId)?.limits);
    this.durable = throughOutage(store);
    this.replayable = new ReplayableEvents(store, logger, this.dedupTtlMs, (bot) => metrics?.inc('switchboard_events_unrecorded_total', { bot }), options.replayGraceMs);
    this.deliverer = new Deliverer({ adapters, outbox: store.outbox, durable: this.durable, pacer: options.pacing?.(limitsOf) ?? new Pacer(limitsOf), policy: options.retryPolicy ?? defaultRetryPolicy, logger, metrics, streams: options.streams, trace: options.trace });
    this.events = new PlatformEvents(options.bot, store, this.deliverer, this.durable, logger, options.hooks ?? {});
    this.ownerless = new OwnerlessReplies(store, this.deliverer, logger, (task) => this.track(task), options.work);
    this.prompts = new Prompts((resumption) => this.track(this.unanswered(resumption)), options.sharedWaits, (id, journal, resumption) => {
      const run = this.handler.run(id, journal, false, resumption);
      this.track(run);
      return run;
    });
    this.handler = new MessageHandler({
      bot: options.bot,
      hooks: options.hooks ?? {},
      store,
      replayable: this.replayable,
      deliverer: this.deliverer,
      logger,
      metrics,
      download: options.download ?? noDownloads,
      limits: options.userLimits,
      prompts: this.prompts,
      track: (task) => this.track(task),
      trace: options.trace,
    });
  }

  /** The bot for events whose handling starts from now on (start --watch); those being handled keep theirs. */
  setBot(bot: Bot): void {
    this.handler.bot = bot;
    this.events.bot = bot;
  }

  /** Admits an event and handles it in the background; see AdapterContext.dispatch. */
  dispatch(botId: string, event: InboundEvent): Promise<Admission> {
    if (this.closed) return refused;
    // A flood waits here (and so does the platform's delivery) instead of growing memory without bound.
    if (this.slots.full) return this.dispatchWhenFree(botId, event);
    return this.dispatchInSlot(botId, event);
  }

  private async dispatchWhenFree(botId: string, event: InboundEvent): Promise<Admission> {
    if (!(await this.slots.freed())) return 'closed';
    return this.dispatchInSlot(botId, event);
  }

  private dispatchInSlot(botId: string, event: InboundEvent): Promise<Admission> {
    this.slots.take();
    // Counted from here, so a shutdown that starts while the event is being admitted waits for it.
    this.admitting.add();
    let normalized: Message | Promise<Message>;
    try {
      normalized = event.normalize();
    } catch (error) {
      normalized = Promise.reject(error);
    }
    // The gateway's hot path: a live replayable event taken at once, its acknowledgement the admission
    // (no promise more per event). That acknowledgement is awaited by the platform's session, which a
    // shutdown stops before it drains: admitting ends here.
    if (event.replayable && !event.replayable.replayed && event.key !== undefined && !this.options.work && !(normalized instanceof Promise)) {
      const journal: MessageJournal = { stage: 'received', message: normalized };
      const id = replayableEventId(botId, event.key);
      const taken = this.replayable.takeLive(id, botId, event.key, journal, () => this.schedule(id, journal, false, event.onHandled));
      if (taken) {
        this.admitting.done();
        return taken;
      }
    }
    return this.admitted(botId, event, normalized);
  }

  private async admitted(botId: string, event: InboundEvent, normalized: Message | Promise<Message>): Promise<Admission> {
    let handling = false;
    try {
      const outcome = await this.admit(botId, event, normalized);
      handling = outcome === 'handling' || outcome === 'handling unrecorded';
      return outcome === 'handling unrecorded' ? 'closed' : outcome === 'duplicate' || outcome === 'closed' ? outcome : 'accepted';
    } finally {
      // A message being handled keeps its slot until it is done; anything else frees it now.
      if (!handling) this.slots.release();
      this.admitting.done();
    }
  }

  /** `handling unrecorded`: a replayable event being handled that could not be recorded; the platform is to send it again. */
  private async admit(botId: string, event: InboundEvent, normalized: Message | Promise<Message>): Promise<'handling' | 'handling unrecorded' | 'queued' | 'consumed' | 'duplicate' | 'closed'> {
    const { logger, store } = this.options;
    let message: Message;
    try {
      message = normalized instanceof Promise ? await normalized : normalized;
    } catch (error) {
      // A payload we cannot read is logged and consumed: redelivering it would fail the same way forever.
      logger.error({ bot: botId, key: event.key, err: error }, 'could not normalize an event; dropped');
      event.onHandled?.();
      return 'consumed';
    }
    const journal: MessageJournal = { stage: 'received', message };
    // Handled at once, recorded only if it has to be (replayable.ts).
    if (event.replayable && event.key !== undefined && !this.options.work) {
      const id = replayableEventId(botId, event.key);
      const key = event.key;
      return await this.replayable.admit(id, botId, key, journal, event.replayable.replayed, (replayed) => this.schedule(id, journal, replayed, event.onHandled)).catch((error: unknown) => this.unrecorded(botId, key, error));
    }
    const id = randomUUID();
    let fresh: boolean;
    try {
      fresh = await store.inbox.admit({ id, botId, key: event.key, journal }, this.dedupTtlMs);
    } catch (error) {
      // Never acknowledged and lost: the platform is told to come back (503, an unconfirmed poll offset…).
      return this.unrecorded(botId, event.key, error, { id, journal, onHandled: event.onHandled });
    }
    if (!fresh) {
      logger.debug({ bot: botId, key: event.key }, 'duplicate event dropped');
      await this.options.work?.requeue(botId, event.key!);
      return 'duplicate';
    }
    if (this.options.work) return this.handOver(id, chatOf(journal), event.onHandled);
    this.schedule(id, journal, false, event.onHandled);
    return 'handling';
  }

  /**
   * The store could not record an event: it is refused ('closed'), and the adapter has the platform
   * deliver it again (a 503, a poll offset not moved, a gateway session resumed from the last event recorded).
   */
  private unrecorded(botId: string, key: string | undefined, error: unknown, event?: Doubtful): 'closed' {
    const { store, logger, metrics } = this.options;
    logger.error({ bot: botId, key, err: errorMessage(error) }, 'could not record an event; the platform is asked to deliver it again');
    metrics?.inc('switchboard_events_unrecorded_total', { bot: botId });
    // Failed because the connection dropped: the write may have landed all the same.
    if (event && store.onAvailability && !store.available) this.inDoubt.add(event);
    return 'closed';
  }

  /** An admission in doubt turned out recorded: handled here, as if it had been admitted then. */
  private takeDoubtful({ id, journal, onHandled }: Doubtful): void {
    if (this.options.work) return void this.handOver(id, chatOf(journal), onHandled, true);
    if (journal.stage === 'event') return void this.track(this.events.run(id, journal.event, false));
    this.slots.take();
    this.schedule(id, journal, false, onHandled);
  }

  /** To the shared queue. The event is recorded: if queueing fails, the cluster's sweeper queues it, so the platform is still told yes. */
  private async handOver(id: string, chat: string | undefined, onHandled?: () => void, again = false): Promise<'queued'> {
    await this.options.work!.enqueue(id, chat, onHandled, again).catch((error: unknown) => this.options.logger.warn({ event: id, err: errorMessage(error) }, 'could not queue an event; the sweeper queues it'));
    return 'queued';
  }

  /** Chats with an event queued or running: at most maxInFlight, as each holds a slot. */
  get queuedChats(): number { return this.chats.chats; }

  /** Runs an event a worker took from the shared queue, from its journal. Never throws. */
  runQueued(event: StoredEvent, resumed: boolean): Promise<RunEnd> {
    const journal = event.journal as Journal;
    const run = journal.stage === 'event' ? this.events.run(event.id, journal.event, resumed) : this.handler.run(event.id, journal, resumed);
    this.track(run);
    return run;
  }

  /** Queues an event behind the others of its chat; it holds a slot until it is done. */
  private schedule(id: string, journal: MessageJournal, resumed: boolean, onHandled?: () => void, gate?: Promise<void>): void {
    // No then for an onHandled the platform did not give (a gateway's): a promise fewer per message.
    const handle = onHandled ? (): Promise<unknown> => this.handler.run(id, journal, resumed).then(onHandled) : (): Promise<unknown> => this.handler.run(id, journal, resumed);
    this.chats.enqueue(chatOf(journal)!, id, handle, gate);
  }

  /**
   * After a restart, before platforms take new events: every event the last run left unfinished
   * is queued again in admission order (so a chat's new messages wait behind it), and replies
   * recorded with no event left to send them are sent. Nothing runs before `started` resolves:
   * replies need the platforms up.
   */
  async resume(started: Promise<unknown>): Promise<{ events: number; items: number }> {
    const { store, logger, work } = this.options;
    const gate = started.then(
      () => {},
      () => {},
    );
    // Pending items first: an item of an event admitted meanwhile (by another instance) is then never taken for an orphan.
    const pending = await store.outbox.list('pending');
    const unfinished = await store.inbox.unfinished();
    // With a shared queue its sweeper queues unfinished events again, for whichever worker.
    const events = work ? [] : unfinished;
    for (const event of events) {
      const journal = event.journal as Journal;
      if (journal.stage === 'event') {
        const platformEvent = journal.event;
        this.track(gate.then(() => this.events.run(event.id, platformEvent, true)));
        continue;
      }
      this.slots.take();
      this.schedule(event.id, journal, true, undefined, gate);
    }
    const items = await this.ownerless.sendOrphans(pending, new Set(unfinished.map((e) => e.id)), gate);
    if (events.length > 0 || items > 0) logger.info({ events: events.length, items }, 'resuming what the last run left unfinished');
    this.track(gate.then(() => this.sendRetries()));
    return { events: events.length, items };
  }

  /** Sends the dead letters an operator asked to retry (`switchboard outbox retry`). */
  sendRetries(): Promise<void> {
    return this.closed ? Promise.resolve() : this.ownerless.sendRetries();
  }

  /**
   * Platform events run beside messages (no chat order): bot event handlers and the onEvent
   * callback, then what handlers sent. Recorded first, like messages, so a crash does not lose one.
   */
  async emit(botId: string, event: PlatformEvent, key?: string): Promise<Admission> {
    if (this.closed) return 'closed';
    const id = randomUUID();
    const journal: EventJournal = { stage: 'event', event };
    let fresh: boolean;
    try {
      fresh = await this.options.store.inbox.admit({ id, botId, key, journal }, this.dedupTtlMs);
    } catch (error) {
      return this.unrecorded(botId, key, error, { id, journal });
    }
    if (!fresh) return 'duplicate';
    if (this.options.work) await this.handOver(id, undefined);
    else this.track(this.events.run(id, event, false));
    return 'accepted';
  }

  /** Undefined when the bot has no interceptors. */
  intercept(message: Message, kind: string): Promise<InterceptDecision> | undefined {
    const { bot } = this.handler;
    if (!bot.intercepts) return undefined;
    const { logger } = this.options;
    return bot.runIntercept(message, kind, logger.child({ platform: message.platform, bot: message.botId, intercept: kind }), this.options.store);
  }

  /**
   * A prompt ended unanswered: its handler goes on in a turn of its own, replying to the message
   * that asked. Not an admitted event (nothing to resume it from): what it replies is recorded in the
   * outbox, so a crash after that still sends it. It runs beside the chat's queue, like a platform event.
   */
  private unanswered(resumption: Resumption): Promise<RunEnd> {
    const { message, request } = resumption.waiting;
    return this.handler.run(randomUUID(), { stage: 'onPreSend', message, request, extras: [] }, false, resumption);
  }

  /** Refuses new events; in-flight ones go on; waiting prompts are dropped (docs/conversations.md). */
  close(): void {
    this.closed = true;
    this.prompts.close();
    // Dispatches waiting for a slot are told "closed", so their platforms deliver again later.
    this.slots.close();
  }

  /** Shutdown's deadline passed: waits end now and unsent replies stay in the outbox for the next start. */
  abandon(): void {
    this.deliverer.stop();
  }

  /** Resolves when every admitted event has been handled, or after `timeoutMs`. Returns how many were still running. */
  async drain(timeoutMs = Number.POSITIVE_INFINITY): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const { running } = this.chats;
    while (this.inFlight.size > 0 || running.size > 0 || this.admitting.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return this.inFlight.size + running.size + this.admitting.size;
      const waits: Promise<unknown>[] = [...this.inFlight, running.settled(), this.admitting.settled()];
      const settled = Promise.allSettled(waits);
      if (!Number.isFinite(left)) {
        await settled;
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([settled, new Promise((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
    }
    return 0;
  }

  private track(task: Promise<unknown>): void {
    const tracked = task
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'background work failed'))
      .finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}
