// Platform events that are not chat messages (members joining, friendships, online state…)
// and interceptions of messages users send each other (a platform asking "may this go through?").

import type { Logger } from '../runtime/logger.js';
import type { KeyValue } from '../store/index.js';
import { State } from './state.js';
import { toSegments, type Author, type Channel, type ChannelRef, type Content, type Message, type OutgoingMessage, type Segment } from '../message.js';

export interface PlatformEvent {
  id: string;
  /** Platform type, e.g. "tencent-im". */
  platform: string;
  botId: string;
  /** The platform's own name for it, e.g. "Group.CallbackAfterNewMemberJoin". */
  type: string;
  channel?: Channel;
  author?: Author;
  /** The platform payload, untouched. */
  data: unknown;
  timestamp: number;
}

/** What an event handler sees; what it sends is delivered after it returns. */
export class EventContext {
  readonly outgoing: OutgoingMessage[] = [];
  private kept: State | undefined;

  constructor(
    readonly event: PlatformEvent,
    readonly log: Logger,
    private readonly store: KeyValue,
  ) {}

  /** As a message's ctx.state; `user` and `chat` only for an event that names its author and chat (docs/state.md). */
  get state(): State {
    const { event } = this;
    return (this.kept ??= new State(this.store, event.botId, event.author?.id, event.channel?.id));
  }

  send(to: ChannelRef, content: Content): void {
    this.outgoing.push({ to, content: toSegments(content) });
  }
}

export type EventHandler = (ctx: EventContext) => unknown;

export type InterceptDecision =
  /** Let the message through unchanged. */
  | { action: 'allow' }
  /** Refuse it; the sender is told it failed. */
  | { action: 'deny'; reason?: string }
  /** Drop it silently; the sender sees success, nobody receives it. */
  | { action: 'drop' }
  /** Deliver this content instead. */
  | { action: 'rewrite'; content: Segment[] };

export interface InterceptContext {
  /** The message a user is sending, normalized. */
  message: Message;
  /** The platform's name for the check, e.g. "C2C.CallbackBeforeSendMsg". */
  kind: string;
  log: Logger;
  /** As a message's ctx.state, for the sending user and their chat (docs/state.md). */
  readonly state: State;
  allow(): InterceptDecision;
  deny(reason?: string): InterceptDecision;
  drop(): InterceptDecision;
  rewrite(content: Content): InterceptDecision;
}

/** An interceptor returns a decision, or nothing to allow. */
export type Interceptor = (ctx: InterceptContext) => InterceptDecision | void | Promise<InterceptDecision | void>;

export const allow: InterceptDecision = { action: 'allow' };

/** Runs interceptors in order: each sees the message as rewritten so far; the first deny or drop ends it. */
export async function runInterceptors(interceptors: readonly Interceptor[], message: Message, kind: string, log: Logger, store: KeyValue): Promise<InterceptDecision> {
  let current = message;
  let rewritten: Segment[] | undefined;
  let kept: State | undefined;
  for (const interceptor of interceptors) {
    const decision = (await interceptor({
      message: current,
      kind,
      log,
      get state() {
        return (kept ??= new State(store, message.botId, message.author.id, message.channel.id));
      },
      allow: () => allow,
      deny: (reason) => ({ action: 'deny', reason }),
      drop: () => ({ action: 'drop' }),
      rewrite: (content) => ({ action: 'rewrite', content: toSegments(content) }),
    })) ?? allow;
    if (decision.action === 'deny' || decision.action === 'drop') return decision;
    if (decision.action === 'rewrite') {
      rewritten = decision.content;
      current = { ...current, content: rewritten };
    }
  }
  return rewritten ? { action: 'rewrite', content: rewritten } : allow;
}
