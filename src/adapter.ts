// The adapter contract (DESIGN.md, "Adapters"). Every platform folder implements it; the core
// never looks past it.

import type Router from '@koa/router';
import type { z } from 'zod';
import type { WebhookRoutes } from './inbound/webhooks.js';
import type { InterceptDecision, PlatformEvent } from './bot/events.js';
import type { Logger } from './runtime/logger.js';
import type { MediaStore } from './media/media.js';
import type { ChannelRef, Delivery, Message, OutgoingMessage, Segment } from './message.js';
import type { SendLimits } from './delivery/pacer.js';
import type { Failure } from './delivery/retry.js';
import type { Store } from './store/index.js';
import type { SupervisedConnection, Supervisor } from './inbound/supervisor.js';

export interface InboundEvent {
  /** The platform's own id for this delivery (Telegram update_id, VK event_id…); repeated keys are dropped. */
  key?: string;
  /** Builds the normalized message; only called once the key is known to be new. */
  normalize(): Message | Promise<Message>;
  /** Called once the message has been handled and every reply delivered (request/response platforms answer then). */
  onHandled?(): void;
  /**
   * Set by a platform that sends the event again until it is acknowledged, after a crash too (a
   * gateway session whose resume point is kept in the store, moved only over events acknowledged,
   * in the order they were dispatched, and written soon after it moves): the core may take it
   * without recording it first, and then settles its admission only once it is handled or recorded
   * (src/pipeline/replayable.ts). One handled with nothing older still held needs no record of its
   * own: the resume point moving over it is. Not for a session kept in memory only: a
   * crash would lose what was running. `replayed`: it may have been taken before (it came while a
   * resumed session was replaying).
   */
  replayable?: { replayed: boolean };
}

/**
 * - `accepted`: recorded; it will be handled (after a crash too). A replayable event: handled, or recorded
 * - `duplicate`: a redelivery of an event already taken; answer as if accepted
 * - `closed`: not taken (shutting down, or the store cannot record it): make the platform deliver
 *   it again later (a webhook throws `unavailable()`, which answers 503 with Retry-After)
 */
export type Admission = 'accepted' | 'duplicate' | 'closed';

export interface AdapterContext {
  /** Routes here are served under `/webhooks/<id>`: a platform's deliveries, served without koa. */
  router: WebhookRoutes;
  /** Routes here are served from the server root; for adapters with a page of their own. */
  rootRouter: Router;
  /**
   * Hands an event to the pipeline. Resolves once it is admitted (or refused as a duplicate,
   * or because Switchboard is shutting down); the message is then handled in the background.
   */
  dispatch(event: InboundEvent): Promise<Admission>;
  /**
   * Hands a platform event that is not a chat message to the bot's event handlers (and the
   * onEvent callback). Like dispatch: recorded (with `key`, the platform's id for dedup) before it
   * resolves `accepted`, handled in the background, `closed` when it cannot be taken now.
   */
  emit(event: PlatformEvent, key?: string): Promise<Admission>;
  /**
   * Asks the bot's interceptors about a message a user is sending; undefined when the bot has none,
   * so the platform can be answered at once. The adapter applies the platform's deadline.
   */
  intercept(message: Message, kind: string): Promise<InterceptDecision> | undefined;
  store: Store;
  logger: Logger;
  media: MediaStore;
  /** One supervisor per persistent connection: single-flight reconnect, backoff, stall watchdog. */
  supervise(connection: SupervisedConnection): Supervisor;
  /** The maximum accepted size of a webhook request body, in bytes. */
  bodyLimit: number;
  /** Public base URL of this Switchboard, for platforms that call us back or fetch our media. */
  publicUrl: string;
  /** The bot's commands, for platforms that list them (Telegram's menu, the sandbox's chips). */
  commands(): { name: string; usage: string; description: string }[];
}

export interface Adapter {
  /** Config id, e.g. "tg". */
  readonly id: string;
  /** Platform, e.g. "telegram". */
  readonly type: string;
  /** The bot's own user id on the platform, once known. */
  readonly selfId?: string;
  /** Connect, or mount routes on ctx.router. */
  start(ctx: AdapterContext): Promise<void>;
  /** Idempotent; leaves no listener behind. */
  stop(): Promise<void>;
  /** What the platform allows this bot to send; the core paces sends to it. */
  readonly limits?: SendLimits;
  /**
   * Renders one reply item into platform calls and makes them, once each: the core records,
   * paces, retries and marks delivered. Never throws: a failure is reported in the Delivery,
   * with its `failure` kind (see Failure) and the ids of the parts that did go out. `ids` counts
   * parts: one entry per part delivered, in order (an empty string where the platform gave none),
   * since the next try skips that many. Without
   * options (a direct call), it is a first try with no idempotency key to keep.
   */
  send(message: OutgoingMessage, options?: SendOptions): Promise<Delivery>;
  /**
   * How the platform shows an answer that grows while it is written (docs/streaming.md). Absent:
   * a streamed reply is collected and sent as one message through `send`.
   */
  readonly streaming?: Streaming;
}

/**
 * A platform's way of showing a growing answer. The core (src/delivery/stream.ts) owns the policy:
 * it reads the bot's stream, paces every update through the platform's declared `limits` (each
 * update is one call against the chat's bucket) plus `minIntervalMs`, coalesces what arrived
 * meanwhile into one update, splits at `maxLength`, appends the notice when the stream fails, and
 * falls back to a new message when an update fails.
 */
export interface Streaming {
  /** The most characters of text one platform message may hold; past it, the core goes on in a new message. */
  maxLength: number;
  /** The least time between two updates of one message, on top of the chat's pacing (ms). */
  minIntervalMs?: number;
  /**
   * Starts a growing message for `message` (its `to`, `replyTo`; `content` is empty). Nothing is
   * sent yet: the first `update` or `finish` does. `pace` waits for the chat's next send slot, as
   * SendOptions.pace does: for a finish that sends more than one message (images after the text).
   */
  open(message: OutgoingMessage, signal: AbortSignal, pace: () => Promise<boolean>): LiveMessage;
}

/** One platform message while it grows. Its methods are called one at a time, never concurrently. */
export interface LiveMessage {
  /** Updates are drafts the user does not keep (the message itself is sent by finish): a failed finish sends it all again. */
  readonly draft?: boolean;
  /** The platform message being shown, once an update made one (none for drafts): kept when a later call fails. */
  readonly id: string | undefined;
  /** Shows `text`, the whole text so far of this message (plain text, no markup). */
  update(text: string): Promise<StreamStep>;
  /**
   * The message's final content (its text, and for the last message the stream's trailing
   * segments: images, buttons): a last edit with the platform's formatting, or the message
   * itself where updates were drafts or none was made. `ids`: the platform message(s) the user keeps.
   */
  finish(content: Segment[]): Promise<Delivery>;
}

/** An update's outcome; a failed one says what kind of failure (rate-limited: the core waits and sends a later text). */
export type StreamStep = { ok: true } | { ok: false; error: string; failure: Failure };

export interface SendOptions {
  /**
   * The item's stable key, the same on every try and after a restart. Where the platform takes
   * an idempotency key, derive it from this (`idempotencyKey`, `idempotencyInt32`).
   */
  key: string;
  /** Parts (platform messages) of this item delivered by an earlier try: skip that many and go on with the rest. */
  sent: number;
  /** Aborted at shutdown: stop waiting and report the failure as retryable. */
  signal: AbortSignal;
  /**
   * Waits for the platform's next send slot (its declared `limits`). The core has paced the
   * item's first part; call this before each further part. False: shutting down, stop there.
   */
  pace(): Promise<boolean>;
}

export interface PlatformConfigBase {
  id: string;
  type: string;
}

/** What the registry knows about a platform: how to read its config and how to build its adapter. */
export interface AdapterDefinition<C extends PlatformConfigBase = PlatformConfigBase> {
  type: string;
  /** zod object schema for one `platforms[]` entry, `type` a literal. */
  configSchema: z.ZodType<C>;
  create(config: C): Adapter | Promise<Adapter>;
}

export function defineAdapter<C extends PlatformConfigBase>(definition: AdapterDefinition<C>): AdapterDefinition<C> {
  return definition;
}

/**
 * A definition whose adapter module, and the platform SDK behind it, is imported only when a
 * config uses the platform: an operator running one platform does not load every other platform's SDK.
 */
export function lazyAdapter<C extends PlatformConfigBase>(type: string, configSchema: z.ZodType<C>, load: () => Promise<{ default: AdapterDefinition<C> }>): AdapterDefinition<C> {
  return { type, configSchema, create: async (config) => (await load()).default.create(config) };
}

export type { ChannelRef, Delivery, Message, OutgoingMessage };
