// One message through every lifecycle stage, resumable: each step that talked to the outside
// world (a callback answered, the handler returned, replies recorded, deliveries done) is
// written to the journal, so a restart goes on from the last one instead of doing it again.

import { setMaxListeners } from 'node:events';
import type { Bot } from '../bot/bot.js';
import { Context, type Downloader } from '../bot/context.js';
import type { Deliverer, ItemDelivery } from '../delivery/deliverer.js';
import type { Delivery, Message, OutgoingMessage, Segment } from '../message.js';
import type { Logger } from '../runtime/logger.js';
import { lazyChild } from '../runtime/lazy-logger.js';
import type { Metrics } from '../runtime/metrics.js';
import { errorMessage } from '../inbound/supervisor.js';
import { pendingRecord, type FinishOptions, type OutboxItem, type OutboxRecord, type Store } from '../store/index.js';
import { throughOutage, type ThroughOutage } from '../store/outage.js';
import type { MessageJournal as Journal, Outcome } from './journal.js';
import type { LimitState, UserLimits } from './limits.js';
import type { Request, Result, Stage, StageData, StageHookMap, StageHooks, StageOutcome, StageValue } from './lifecycle.js';
import type { HandOver, Prompts, Resumption } from './prompts.js';
import { collectStreams, sendLive, type SentLive } from './streams.js';
import { hasStreams } from '../bot/stream.js';
import type { Trace } from './trace.js';
import type { ReplayableEvents } from './replayable.js';
import { HandledMetrics } from './handled-metrics.js';

export interface HandleDeps {
  bot: Bot;
  hooks: StageHooks;
  store: Store;
  /** Events taken unrecorded: recorded before they leave a trace, and finished by their own rule. */
  replayable?: ReplayableEvents;
  deliverer: Deliverer;
  logger: Logger;
  metrics?: Metrics;
  download: Downloader;
  /** Per-user limits, when a platform has one. */
  limits?: UserLimits;
  /** Handlers waiting in ctx.prompt, and the messages that answer them. */
  prompts: Prompts;
  /** Tracks background work (onSent) so shutdown waits for it. */
  track(task: Promise<unknown>): void;
  /** Told what happens to each message (the operator console); absent, nothing is. */
  trace?: Trace;
}

type Stopped = { stopped: true; reply?: Segment[] };
type Recorded = { journal: Extract<Journal, { stage: 'delivering' }>; outcome: Outcome; records: OutboxRecord[] };
/** What a stage's hook answered (a stage with no hook is not asked: its value passes untouched). */
type StageResult<S extends Stage> = { value: StageValue<S>; exceeded?: boolean };

/** Per run: whether the next callback may be a repeat of one asked before a crash, and the hooks' time left. */
interface Run {
  eventId: string;
  /** The bot as it was when the run started: a reload (start --watch) meanwhile does not change it halfway. */
  bot: Bot;
  log: Logger;
  redelivered: boolean;
  /** What is left of the hooks' budget, in ms; each hook before delivery spends from it. */
  hookTimeLeft: number;
  /** This run goes on with a handler that waited in ctx.prompt, instead of routing to one. */
  resumes?: Resumption;
  /** The handler's replies went out live, with a stream among them: what was recorded and edited then. */
  live?: SentLive;
}

/** What a finished run reports: done (event finished or being finished after onSent), or left for the next start. */
export type RunEnd = 'done' | 'left';

export class MessageHandler {
  /** Writes that must not be lost to a moment's outage of a networked store. */
  private readonly durable: ThroughOutage;
  /** For runs that start from now on. */
  bot: Bot;
  private readonly handledMetrics: HandledMetrics | undefined;

  constructor(private readonly deps: HandleDeps) {
    this.durable = throughOutage(deps.store);
    this.bot = deps.bot;
    this.handledMetrics = deps.metrics && new HandledMetrics(deps.metrics);
  }

  /** Runs an event from its journal entry to the end; `resumes`: the turn of a prompt that ended unanswered. Never throws. */
  async run(eventId: string, journal: Journal, resumed: boolean, resumes?: Resumption): Promise<RunEnd> {
    const started = performance.now();
    const { message } = journal;
    const log = lazyChild(this.deps.logger, { event: eventId, platform: message.platform, bot: message.botId, chat: message.channel.id });
    const run: Run = { eventId, bot: this.bot, log, redelivered: resumed, hookTimeLeft: this.deps.hooks.budgetMs ?? Infinity, resumes };
    this.deps.trace?.received(eventId, message);
    if (resumed) log.info({ stage: journal.stage }, 'resuming an event left unfinished by the last run');
    let outcome: Outcome = 'failed';
    let replies = 0;
    let end: RunEnd = 'done';
    /** Handed to another instance: that one logs, counts and finishes it (or, gone, leaves it to a run here that does). */
    let handedOver: HandOver | undefined;
    let deliveries: ItemDelivery[] = [];
    try {
      const delivering = await this.decide(journal, run);
      if ('elsewhere' in delivering) {
        handedOver = delivering.elsewhere;
        end = await this.handedOver(eventId, handedOver);
        return end;
      }
      outcome = delivering.outcome;
      const records = delivering.records ?? (await this.deps.store.outbox.ofEvent(eventId));
      replies = records.length;
      // Without onSent the event is finished as soon as its replies are sent: the last one's delivery is recorded with that finish.
      if (records.length > 0) deliveries = await this.deps.deliverer.sendAll(records, log, !this.deps.hooks.onSent);
      if (run.live) for (const [i, record] of records.entries()) deliveries[i]!.edits = run.live.edits.get(record.key);
      if (deliveries.some((d) => d.left)) {
        end = 'left';
        return end;
      }
      if (outcome === 'answered' && deliveries.some((d) => !d.ok)) outcome = 'delivery failed';
      this.afterSent(delivering.journal, outcome, deliveries, run);
    } catch (error) {
      log.error({ err: error }, 'pipeline failed');
      await this.finish(eventId, log, true, deliveries.at(-1)?.unmarked);
    } finally {
      const ms = performance.now() - started;
      this.deps.trace?.finished(eventId, end === 'done' ? outcome : 'left', ms);
      if (handedOver) {
        if (end === 'left' && handedOver !== 'resume') log.debug('the answer to a prompt goes back to its queue, for the next worker to see to');
        else if (handedOver === 'done') log.debug('the answer to a prompt was handled by the instance that asked');
      } else if (end === 'done') {
        // Asked of the parent first: at warn (production) nothing is built for a line not printed.
        if (this.deps.logger.isLevelEnabled('info')) log.info({ outcome, replies, ms: Math.round(ms * 100) / 100 }, 'message handled');
        this.handledMetrics?.handled(message, outcome, ms);
      } else log.warn({ outcome, replies }, 'stopped before every reply was delivered; the rest is sent after the next start');
    }
    return end;
  }

  /** An answer handed to the instance that asked: its run ended there, or, that instance gone mid-turn, the event goes on here from its journal. */
  private async handedOver(eventId: string, how: HandOver): Promise<RunEnd> {
    if (how !== 'resume') return how;
    // Unreadable now: left, so its job goes back to the queue and is resumed from there.
    const event = await this.deps.store.inbox.get(eventId).catch(() => null);
    if (event === null) return 'left';
    return event ? this.run(eventId, event.journal as Journal, true) : 'done';
  }

  /**
   * Everything before sending: the stages, routing and the handler, from wherever the journal
   * says this event got to. Ends with the replies in the outbox and the journal at `delivering`,
   * or with the event handed to the instance whose prompt it answers.
   */
  private async decide(journal: Journal, run: Run): Promise<{ journal: Extract<Journal, { stage: 'delivering' }>; outcome: Outcome; records?: OutboxRecord[] } | { elsewhere: HandOver }> {
    let j = journal;
    if (j.stage === 'delivering') return { journal: j, outcome: j.outcome };
    if (j.stage === 'delivered') return { journal: { ...j, stage: 'delivering' }, outcome: j.outcome, records: await this.deps.store.outbox.ofEvent(run.eventId) };
    if (run.redelivered) {
      // Replies in the outbox mean the handler (and every stage before sending) had finished: see record().
      const records = await this.deps.store.outbox.ofEvent(run.eventId);
      if (records.length > 0) return { journal: { stage: 'delivering', message: j.message, outcome: 'answered' }, outcome: 'answered', records };
    }
    const extras: Segment[][] = j.stage === 'received' ? [] : [...j.extras];
    // A stage with no hook is not asked: nothing is built for it and nothing awaited (no microtask turn per stage per message).
    const { hooks } = this.deps;
    if (j.stage === 'received') {
      const limit = this.deps.limits ? await this.deps.limits.count(j.message) : undefined;
      const received = hooks.onMessage ? await this.ask('onMessage', hooks.onMessage, { eventId: run.eventId, message: j.message, limit }, j.message, extras, run) : undefined;
      if (received && isStopped(received)) return this.refuse(j.message, received, extras, run);
      if (limit && (received?.exceeded ?? limit.exceeded)) return this.limited(j.message, limit, extras, run);
      j = { stage: 'onMessage', message: received ? received.value : j.message, extras };
      if (received) await this.save(run, j);
    }
    if (j.stage === 'onMessage') {
      // The answer to a prompt goes to the handler that asked, not through routing (pipeline/prompts.ts).
      const { prompts } = this.deps;
      const waiting = run.resumes?.waiting ?? prompts.take(j.message);
      if (waiting) {
        run.resumes = { waiting, by: j.message };
        j = { stage: 'onPreSend', message: j.message, request: waiting.request, extras };
      } else {
        const offered = prompts.shared?.handOver(run.eventId, j, run.log);
        const elsewhere = offered && (await offered);
        if (elsewhere) return { elsewhere };
      }
    }
    if (j.stage === 'onMessage') {
      const request = run.bot.resolve(j.message);
      const routed = hooks.onPreSend ? await this.ask('onPreSend', hooks.onPreSend, { eventId: run.eventId, message: j.message, request }, request, extras, run) : undefined;
      if (routed && isStopped(routed)) return this.refuse(j.message, routed, extras, run);
      j = { stage: 'onPreSend', message: j.message, request: routed ? routed.value : request, extras };
      if (routed) await this.save(run, j);
    }
    if (j.stage === 'onPreSend') {
      const result: Result = { replies: [], data: {} };
      const { trace } = this.deps;
      // The handler's run (a first turn or a resumed one) is timed for an observer only.
      const started = trace ? performance.now() : 0;
      try {
        if (run.resumes) await this.deps.prompts.resume(run.resumes, { eventId: run.eventId, message: j.message, result, log: run.log });
        else {
          const ctx = new Context(run.eventId, j.message, j.request, result, run.log, this.deps.download, this.deps.store);
          const running = this.deps.prompts.run(ctx, () => run.bot.run(ctx));
          if (running) await running;
        }
        trace?.handled(run.eventId, performance.now() - started);
      } catch (error) {
        trace?.handled(run.eventId, performance.now() - started, error);
        run.log.error({ err: error }, 'handler threw; no reply sent');
        // What earlier stages added is still the operator's to show.
        return this.record({ stage: 'delivering', message: j.message, request: j.request, outcome: 'handler failed' }, extras.map((c) => toChat(j.message, c)), run);
      }
      if (hasStreams(result.replies)) await this.settleStreams(j.message, result, run);
      j = { stage: 'handled', message: j.message, request: j.request, result, extras };
      if (hooks.onResult) await this.save(run, j);
    }
    const decided = hooks.onResult ? await this.ask('onResult', hooks.onResult, { eventId: run.eventId, message: j.message, request: j.request, result: j.result }, j.result, extras, run) : undefined;
    if (run.live) return this.afterLive(j, decided, extras, run);
    if (decided && isStopped(decided)) {
      this.deps.prompts.dropAskedIn(run.eventId);
      return this.refuse(j.message, decided, extras, run, j.request);
    }
    const result = decided ? decided.value : j.result;
    const outgoing = extras.length === 0 ? result.replies : [...result.replies, ...extras.map((c) => toChat(j.message, c))];
    return this.record({ stage: 'delivering', message: j.message, request: j.request, result, outcome: 'answered' }, outgoing, run);
  }

  /** Streamed replies: read whole for an onResult that must see them first, else sent live now, in order with the rest. */
  private async settleStreams(message: Message, result: Result, run: Run): Promise<void> {
    const { deliverer, hooks } = this.deps;
    if (hooks.resultStreams?.(message) === 'collect') return collectStreams(result.replies, deliverer, run.log);
    run.live = await sendLive(result.replies, {
      deliverer,
      log: run.log,
      record: (items, first) => this.recordItems(items, run, first),
      delivered: (key, ids) => this.durable(() => this.deps.store.outbox.delivered(key, ids)).catch((error: unknown) => run.log.error({ err: errorMessage(error), item: key }, 'could not mark a streamed reply delivered; after a restart it may be sent again')),
    });
  }

  /** The replies went out live: onResult only observed them. What it adds, or its stop reply, goes after them. */
  private async afterLive(j: Extract<Journal, { stage: 'handled' }>, decided: StageResult<'onResult'> | Stopped | undefined, extras: Segment[][], run: Run) {
    let contents = extras;
    if (decided && isStopped(decided)) {
      this.deps.prompts.dropAskedIn(run.eventId);
      if (decided.reply?.length) contents = [decided.reply, ...extras];
      run.log.warn('onResult stopped a reply that had already gone out live (callbacks.onResult.stream: observe); its reply is sent after it');
    } else if (decided && decided.value !== j.result) run.log.warn('onResult changed a reply that had already gone out live (callbacks.onResult.stream: observe); the change is ignored');
    const journal = { stage: 'delivering' as const, message: j.message, request: j.request, result: j.result, outcome: 'answered' as const };
    const recorded = await this.record(journal, contents.map((c) => toChat(j.message, c)), run, run.live!.recorded);
    // Every item of the event, the ones sent live included: onSent hears of them all.
    return { ...recorded, records: undefined };
  }

  /** Runs a stage's hook (a stage with none is not asked). */
  private async ask<S extends Exclude<Stage, 'onSent'>>(stage: S, hook: NonNullable<StageHookMap[S]>, data: StageData, value: StageValue<S>, extras: Segment[][], run: Run): Promise<StageResult<S> | Stopped> {
    let outcome: StageOutcome<S>;
    const started = performance.now();
    const budget = budgetSignal(run.hookTimeLeft);
    try {
      outcome = await hook(stage, this.redelivered(data, run), budget);
    } catch (error) {
      // A hook is expected to apply its own error policy; one that throws anyway does not stop the message.
      run.log.error({ stage, err: errorMessage(error) }, 'stage hook threw; continuing');
      return { value };
    } finally {
      // The signal, not the clock, says when it is spent: timers fire a little early or late.
      run.hookTimeLeft = budget.aborted ? 0 : run.hookTimeLeft - (performance.now() - started);
    }
    if (outcome.kind === 'reject') return { stopped: true, reply: outcome.reply };
    if (outcome.extra) extras.push(...outcome.extra);
    return { value: outcome.data ?? value, exceeded: outcome.exceeded };
  }

  /** The first callback after a resume may repeat one asked before the crash: it is told so. */
  private redelivered(data: StageData, run: Run): StageData {
    if (!run.redelivered) return data;
    run.redelivered = false;
    return { ...data, redelivered: true };
  }

  /** A stage stopped the message: the user sees its reply, then any content earlier stages added. */
  private refuse(message: Message, stopped: Stopped, extras: Segment[][], run: Run, request?: Request, outcome: Outcome = 'rejected') {
    const contents = stopped.reply && stopped.reply.length > 0 ? [stopped.reply, ...extras] : extras;
    return this.record({ stage: 'delivering', message, ...(request ? { request } : {}), outcome }, contents.map((c) => toChat(message, c)), run);
  }

  /** Over the per-user limit: recorded and finished like any message, its author told at most once a window. */
  private limited(message: Message, limit: LimitState, extras: Segment[][], run: Run) {
    const notice = this.deps.limits!.stopped(message, limit);
    return this.refuse(message, { stopped: true, reply: notice }, extras, run, undefined, 'limited');
  }

  /**
   * Puts the replies in the outbox under stable keys: from then on a restart sends them and runs
   * nothing before (an event with replies in the outbox is past its handler). The journal moves to
   * `delivering` in the same commit only when onSent will want the request and result after a
   * restart; without onSent, the outbox says all there is, and the hot path saves a write.
   * `first`: the index of the first item (items of this event recorded before, by a live stream or
   * before onSent's extras); `prefix` marks onSent's extras, which leave the journal at `delivered`.
   */
  private record(journal: Extract<Journal, { stage: 'delivering' }>, outgoing: OutgoingMessage[], run: Run, first = 0, prefix = `${run.eventId}:`): Recorded | Promise<Recorded> {
    const saved = this.deps.hooks.onSent && prefix === `${run.eventId}:` ? journal : undefined;
    // Nothing to reply and no journal to save (most messages of a busy chat): no store round trip, and no promise.
    if (outgoing.length === 0 && !saved) return { journal, outcome: journal.outcome, records: [] };
    return this.recordItems(outgoing, run, first, prefix, saved).then((records) => ({ journal, outcome: journal.outcome, records }));
  }

  private async recordItems(outgoing: readonly OutgoingMessage[], run: Run, first: number, prefix = `${run.eventId}:`, journal?: Journal): Promise<OutboxRecord[]> {
    if (outgoing.length === 0 && !journal) return [];
    const items: OutboxItem[] = outgoing.map((message, i) => ({ key: `${prefix}${first + i}`, eventId: run.eventId, index: first + i, message }));
    const { store } = this.deps;
    // Added and saved in one round trip. A networked store that lost its connection is usually back
    // within moments: the replies wait for it rather than go out unrecorded, which would send them
    // again when the event is resumed.
    const write = (): Promise<unknown> => {
      this.deps.replayable?.record(run.eventId);
      // Both queued in this turn commit together; the usual one alone is awaited without a Promise.all around it.
      if (!journal) return store.outbox.add(items);
      return Promise.all([items.length > 0 ? store.outbox.add(items) : undefined, store.inbox.update(run.eventId, journal)]);
    };
    try {
      await this.durable(write);
    } catch (error) {
      run.log.error({ err: errorMessage(error) }, 'could not record the replies in the store; sending them anyway (after a crash they may be sent again)');
    }
    const at = Date.now();
    return items.map((item) => pendingRecord(item, at));
  }

  /** onSent never delays the user: it runs after delivery, in the background, tracked for shutdown; then the event is finished. */
  private afterSent(delivering: Extract<Journal, { stage: 'delivering' }>, outcome: Outcome, deliveries: ItemDelivery[], run: Run): void {
    const hook = this.deps.hooks.onSent;
    // Not tracked: a queued store write is committed when the store closes.
    // `deliveries` are of every item the event has in the outbox (records read back on a resume): none, nothing to forget there.
    if (!hook) return void this.finish(run.eventId, run.log, deliveries.length > 0, deliveries.at(-1)?.unmarked);
    const journal: Extract<Journal, { stage: 'delivered' }> = { ...delivering, stage: 'delivered', outcome };
    const data: StageData = { eventId: run.eventId, message: journal.message, request: journal.request, result: journal.result, deliveries: deliveries.map(({ ok, ids, error, ms, edits }) => ({ ok, ids, ms, ...(error === undefined ? {} : { error }), ...(edits === undefined ? {} : { edits }) })) };
    const task = (async () => {
      await this.save(run, journal);
      try {
        const outcome = await hook('onSent', this.redelivered(data, run), unlimited);
        if (outcome.kind === 'continue' && outcome.extra?.length) {
          const outgoing = outcome.extra.map((content) => toChat(journal.message, content));
          const { records } = await this.record({ ...journal, stage: 'delivering' }, outgoing, run, deliveries.length, `${run.eventId}:sent:`);
          await this.deps.deliverer.sendAll(records, run.log);
        }
      } catch (error) {
        run.log.error({ stage: 'onSent', err: errorMessage(error) }, 'stage hook threw');
      }
      if (!this.deps.deliverer.stopped) await this.finish(run.eventId, run.log);
    })();
    this.deps.track(task);
  }

  private async save(run: Run, journal: Journal): Promise<void> {
    try {
      this.deps.replayable?.record(run.eventId);
      await this.deps.store.inbox.update(run.eventId, journal);
    } catch (error) {
      run.log.error({ err: errorMessage(error) }, 'could not save the event\'s progress; after a crash this step may be repeated');
    }
  }

  /** `delivered`: the key of the event's last reply, taken by the platform and not yet marked delivered (Deliverer.sendAll's `finishing`). */
  private finish(eventId: string, log: Logger, replies = true, delivered?: string): Promise<void> {
    // One taken unrecorded ends with its dedup key; that never rejects (replayable.ts).
    const replayable = this.deps.replayable?.finish(eventId);
    if (replayable) return replayable;
    const options: FinishOptions = replies ? { replies, delivered } : { replies };
    return this.durable(() => this.deps.store.inbox.finish(eventId, options)).catch((error: unknown) => {
      log.error({ err: errorMessage(error) }, 'could not mark the event finished; after a restart it is resumed, and what was delivered is not sent again');
    });
  }
}

/** Never aborts; every hook call under way without a budget listens to it, as many as there are messages at once. */
const unlimited = new AbortController().signal;
setMaxListeners(0, unlimited);

/**
 * Less than this is no time for a hook: the budget counts as spent. Timers fire a few ms early or
 * late, so a stage that timed out exactly as the budget ended may leave such a sliver.
 */
const minHookMs = 10;

/** Aborted when `leftMs` has passed; already aborted when (next to) nothing is left. */
function budgetSignal(leftMs: number): AbortSignal {
  if (leftMs === Infinity) return unlimited;
  return leftMs < minHookMs ? AbortSignal.abort() : AbortSignal.timeout(Math.ceil(leftMs));
}

export function toChat(message: Message, content: Segment[]): OutgoingMessage {
  return { to: { botId: message.botId, channelId: message.channel.id, type: message.channel.type }, content, inResponseTo: message.id };
}

function isStopped(value: unknown): value is Stopped {
  return typeof value === 'object' && value !== null && (value as Stopped).stopped === true;
}
