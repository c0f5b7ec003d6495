// One inbound event through every lifecycle stage (DESIGN.md, "Lifecycle of one inbound message").

import { randomUUID } from 'node:crypto';
import type { Adapter, Admission, InboundEvent } from '../adapter.js';
import type { Bot } from '../bot/bot.js';
import { Context, type Downloader } from '../bot/context.js';
import { EventContext, type InterceptDecision, type PlatformEvent } from '../bot/events.js';
import type { Result, Stage, StageData, StageHookMap, StageHooks, StageOutcome, StageValue } from './lifecycle.js';
import type { Logger } from '../runtime/logger.js';
import type { Metrics } from '../runtime/metrics.js';
import type { Delivery, Message, OutgoingMessage, Segment } from '../message.js';
import type { Store } from '../store/index.js';
import { errorMessage } from '../inbound/supervisor.js';

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
}

const noDownloads: Downloader = async () => {
  throw new Error('downloads are not configured');
};

type Stopped = { stopped: true; reply?: Segment[] };

/** How admission ended: the message is being handled (it holds a slot), was consumed unread, or was a duplicate. */
type Admitted = 'handling' | 'consumed' | 'duplicate';

export class Pipeline {
  private readonly inFlight = new Set<Promise<void>>();
  /** The tail of each chat's queue: messages of one chat are handled in arrival order. */
  private readonly chatTails = new Map<string, Promise<void>>();
  private closed = false;
  /** Messages admitted or being handled, against maxInFlight; and the dispatches waiting for a slot. */
  private slotsTaken = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private readonly hooks: StageHooks;
  private readonly dedupTtlMs: number;
  private readonly maxInFlight: number;

  constructor(private readonly options: PipelineOptions) {
    this.hooks = options.hooks ?? {};
    this.dedupTtlMs = options.dedupTtlMs ?? 3_600_000;
    this.maxInFlight = options.maxInFlight ?? 1000;
  }

  /** Admits an event (dedup) and handles it in the background; see AdapterContext.dispatch. */
  async dispatch(botId: string, event: InboundEvent): Promise<Admission> {
    if (this.closed) return 'closed';
    // A flood waits here (and so does the platform's delivery) instead of growing memory without bound.
    if (this.slotsTaken >= this.maxInFlight && !(await this.slotFreed())) return 'closed';
    this.slotsTaken++;
    // Counted from here, so a shutdown that starts while the event is being admitted waits for it.
    let admitted!: () => void;
    const admitting = new Promise<void>((resolve) => (admitted = resolve));
    this.inFlight.add(admitting);
    let outcome: Admitted | undefined;
    try {
      outcome = await this.admit(botId, event);
      return outcome === 'duplicate' ? 'duplicate' : 'accepted';
    } finally {
      // A message being handled keeps its slot until it is done; anything else frees it now.
      if (outcome !== 'handling') this.releaseSlot();
      this.inFlight.delete(admitting);
      admitted();
    }
  }

  /** Waits until a slot is free; false when Switchboard closed meanwhile. */
  private async slotFreed(): Promise<boolean> {
    while (this.slotsTaken >= this.maxInFlight) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
      if (this.closed) return false;
    }
    return true;
  }

  private releaseSlot(): void {
    this.slotsTaken--;
    this.slotWaiters.shift()?.();
  }

  private async admit(botId: string, event: InboundEvent): Promise<Admitted> {
    if (event.key !== undefined && !(await this.options.store.claim(`dedup:${botId}:${event.key}`, this.dedupTtlMs))) {
      this.options.logger.debug({ bot: botId, key: event.key }, 'duplicate event dropped');
      return 'duplicate';
    }
    let message: Message;
    try {
      message = await event.normalize();
    } catch (error) {
      // A payload we cannot read is logged and consumed: redelivering it would fail the same way forever.
      this.options.logger.error({ bot: botId, key: event.key, err: error }, 'could not normalize an event; dropped');
      event.onHandled?.();
      return 'consumed';
    }
    const chat = `${botId}\0${message.channel.id}`;
    const previous = this.chatTails.get(chat);
    const run = (previous ? previous.then(() => this.handle(message)) : this.handle(message)).finally(() => {
      this.inFlight.delete(run);
      if (this.chatTails.get(chat) === run) this.chatTails.delete(chat);
      this.releaseSlot();
      event.onHandled?.();
    });
    this.inFlight.add(run);
    this.chatTails.set(chat, run);
    return 'handling';
  }

  /** Platform events run beside messages: bot event handlers and the onEvent callback, then what handlers sent. */
  emit(event: PlatformEvent): Admission {
    if (this.closed) return 'closed';
    const log = this.options.logger.child({ event: event.id, platform: event.platform, bot: event.botId, type: event.type });
    const task = this.handleEvent(event, log).finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
    return 'accepted';
  }

  /** Undefined when the bot has no interceptors. */
  intercept(message: Message, kind: string): Promise<InterceptDecision> | undefined {
    const { bot, logger } = this.options;
    if (!bot.intercepts) return undefined;
    return bot.runIntercept(message, kind, logger.child({ platform: message.platform, bot: message.botId, intercept: kind }));
  }

  private async handleEvent(event: PlatformEvent, log: Logger): Promise<void> {
    const started = performance.now();
    const ctx = new EventContext(event, log);
    try {
      await Promise.all([this.options.bot.runEvent(ctx), this.hooks.onEvent?.(event).catch((error: unknown) => log.warn({ err: errorMessage(error) }, 'onEvent callback failed'))]);
      if (ctx.outgoing.length > 0) await this.deliver(ctx.outgoing, log);
    } finally {
      log.info({ replies: ctx.outgoing.length, ms: Math.round((performance.now() - started) * 100) / 100 }, 'event handled');
    }
  }

  /** Refuses new events; in-flight ones go on. */
  close(): void {
    this.closed = true;
    // Dispatches waiting for a slot are told "closed", so their platforms deliver again later.
    for (const wake of this.slotWaiters.splice(0)) wake();
  }

  /** Resolves when every admitted event has been handled, or after `timeoutMs`. Returns how many were still running. */
  async drain(timeoutMs = Number.POSITIVE_INFINITY): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return this.inFlight.size;
      const settled = Promise.allSettled([...this.inFlight]);
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

  /** Handles one message start to end. Never throws: a failing handler or adapter is logged with the event id. */
  private async handle(message: Message): Promise<void> {
    const started = performance.now();
    const eventId = randomUUID();
    const log = this.options.logger.child({ event: eventId, platform: message.platform, bot: message.botId, chat: message.channel.id });
    const data: StageData = { eventId, message };
    const extras: Segment[][] = [];
    let outcome = 'answered';
    let replies = 0;
    try {
      const received = await this.stage('onMessage', data, extras, log);
      if (isStopped(received)) return void (outcome = await this.refuse(data, received, extras, log));
      data.message = received;

      const routed = await this.stage('onPreSend', { ...data, request: this.options.bot.resolve(data.message) }, extras, log);
      if (isStopped(routed)) return void (outcome = await this.refuse(data, routed, extras, log));
      data.request = routed;

      const result: Result = { replies: [], data: {} };
      try {
        await this.options.bot.run(new Context(eventId, data.message, data.request, result, log, this.options.download ?? noDownloads));
      } catch (error) {
        outcome = 'handler failed';
        log.error({ err: error }, 'handler threw; no reply sent');
        // What earlier stages added is still the operator's to show.
        if (extras.length > 0) {
          data.deliveries = await this.deliver(extras.map((content) => this.toChat(data.message, content)), log);
          this.afterSent(data, log);
        }
        return;
      }

      const decided = await this.stage('onResult', { ...data, result }, extras, log);
      if (isStopped(decided)) return void (outcome = await this.refuse(data, decided, extras, log));
      data.result = decided;

      const outgoing = [...decided.replies, ...extras.map((content) => this.toChat(data.message, content))];
      replies = outgoing.length;
      data.deliveries = await this.deliver(outgoing, log);
      if (data.deliveries.some((d) => !d.ok)) outcome = 'delivery failed';
      this.afterSent(data, log);
    } catch (error) {
      outcome = 'failed';
      log.error({ err: error }, 'pipeline failed');
    } finally {
      const ms = performance.now() - started;
      log.info({ outcome, replies, ms: Math.round(ms * 100) / 100 }, 'message handled');
      this.options.metrics?.inc('switchboard_messages_total', { platform: message.platform, bot: message.botId, outcome });
      this.options.metrics?.observe('switchboard_message_seconds', { platform: message.platform }, ms / 1000);
    }
  }

  /** Runs a stage's hook, if one is configured; with none, the value passes through untouched. */
  private async stage<S extends Exclude<Stage, 'onSent'>>(
    stage: S,
    data: StageData,
    extras: Segment[][],
    log: Logger,
  ): Promise<StageValue<S> | Stopped> {
    const value = (stage === 'onMessage' ? data.message : stage === 'onPreSend' ? data.request : data.result) as StageValue<S>;
    const hook = this.hooks[stage];
    if (!hook) return value;
    let outcome: StageOutcome<S>;
    try {
      outcome = await (hook as NonNullable<StageHookMap[S]>)(stage, data);
    } catch (error) {
      // A hook is expected to apply its own error policy; one that throws anyway does not stop the message.
      log.error({ stage, err: errorMessage(error) }, 'stage hook threw; continuing');
      return value;
    }
    if (outcome.kind === 'reject') return { stopped: true, reply: outcome.reply };
    if (outcome.extra) extras.push(...outcome.extra);
    return outcome.data ?? value;
  }

  /** A stage stopped the message: the user sees its reply, then any content earlier stages added. */
  private async refuse(data: StageData, stopped: Stopped, extras: Segment[][], log: Logger): Promise<string> {
    const contents = stopped.reply && stopped.reply.length > 0 ? [stopped.reply, ...extras] : extras;
    if (contents.length > 0) {
      data.deliveries = await this.deliver(contents.map((content) => this.toChat(data.message, content)), log);
      this.afterSent(data, log);
    }
    return 'rejected';
  }

  private toChat(message: Message, content: Segment[]): OutgoingMessage {
    return { to: { botId: message.botId, channelId: message.channel.id, type: message.channel.type }, content, inResponseTo: message.id };
  }

  /** Sends replies one after another, so a chat sees them in order. */
  private async deliver(outgoing: OutgoingMessage[], log: Logger): Promise<Delivery[]> {
    const deliveries: Delivery[] = [];
    for (const message of outgoing) {
      const adapter = this.options.adapters.get(message.to.botId);
      const delivery = adapter ? await adapter.send(message) : { ok: false, ids: [], error: `no platform with id "${message.to.botId}"`, ms: 0 };
      if (!delivery.ok) log.warn({ to: message.to.channelId, target: message.to.botId, err: delivery.error }, 'delivery failed');
      deliveries.push(delivery);
    }
    return deliveries;
  }

  /** onSent never delays the user: it runs after delivery, in the background, tracked for shutdown. */
  private afterSent(data: StageData, log: Logger): void {
    const hook = this.hooks.onSent;
    if (!hook) return;
    const task = hook('onSent', data)
      .then(async (outcome) => {
        if (outcome.kind === 'continue' && outcome.extra?.length) await this.deliver(outcome.extra.map((c) => this.toChat(data.message, c)), log);
      })
      .catch((error: unknown) => log.error({ stage: 'onSent', err: errorMessage(error) }, 'stage hook threw'))
      .finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
  }
}

function isStopped(value: unknown): value is Stopped {
  return typeof value === 'object' && value !== null && (value as Stopped).stopped === true;
}
