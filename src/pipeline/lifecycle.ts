// The data each lifecycle stage sees and the contract of a stage hook (DESIGN.md, "Lifecycle").

import type { PlatformEvent } from '../bot/events.js';
import type { Delivery, Message, OutgoingMessage, Segment } from '../message.js';
import type { LimitState } from './limits.js';

export type Stage = 'onMessage' | 'onPreSend' | 'onResult' | 'onSent';
export const stages: readonly Stage[] = ['onMessage', 'onPreSend', 'onResult', 'onSent'];

/** What routing decided: the handler to run and its arguments. */
export interface Request {
  /** The command name without its prefix, or null for a plain message. */
  command: string | null;
  /** Parsed arguments of the command. */
  args: Record<string, unknown>;
  /** A named handler (bot.route) to run instead of the command or message handlers. */
  route: string | null;
  /** Why the arguments could not be parsed; the user is shown the command's usage. */
  error?: string;
}

/** What the handler produced, before it is rendered and sent. */
export interface Result {
  replies: OutgoingMessage[];
  /** Free-form data a handler or callback attaches to the result. */
  data: Record<string, unknown>;
}

export interface StageData {
  eventId: string;
  message: Message;
  request?: Request;
  result?: Result;
  deliveries?: Delivery[];
  /** onMessage: the author's count against the per-user limit, when the platform has one. */
  limit?: LimitState;
  /** This stage may already have been asked about this event, before a crash; the event resumed after a restart. */
  redelivered?: true;
}

/** The value a stage may replace: the message, the request or the result. */
export type StageValue<S extends Stage> = S extends 'onMessage' ? Message : S extends 'onPreSend' ? Request : S extends 'onResult' ? Result : never;

export type StageOutcome<S extends Stage = Stage> =
  /**
   * Go on; `data` replaces the stage's value (already merged and validated); `extra` is sent to the
   * same chat afterwards. `exceeded` (onMessage) overrules the per-user limit's count: true stops
   * the message as over the limit, false lets it through.
   */
  | { kind: 'continue'; data?: StageValue<S>; extra?: Segment[][]; exceeded?: boolean }
  /** Stop here; `reply` is shown to the user. */
  | { kind: 'reject'; reply?: Segment[] };

/**
 * `budget` is aborted once the message's hook time (StageHooks.budgetMs) is spent, already when
 * none is left: the hook stops waiting and applies its own failure policy.
 */
export type StageHook<S extends Stage = Stage> = (stage: S, data: StageData, budget: AbortSignal) => Promise<StageOutcome<S>>;

export type StageHookMap = { [S in Stage]?: StageHook<S> };

export type StageHooks = StageHookMap & {
  /**
   * The most time, in ms, the hooks before delivery may take together for one message; each is
   * told what is left of it. onSent runs after the user was answered and is not counted.
   */
  budgetMs?: number;
  /**
   * How a streamed reply meets onResult, for a message: `collect` (onResult applies and sees the
   * whole answer before it is sent), `observe` (it goes out live; onResult sees it afterwards).
   * Undefined: no onResult applies, the stream goes out live.
   */
  resultStreams?: (message: Message) => 'collect' | 'observe' | undefined;
  /** Observes platform events that are not chat messages; its answer changes nothing. */
  onEvent?: (event: PlatformEvent) => Promise<void>;
};
