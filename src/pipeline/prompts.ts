// Conversations (docs/conversations.md). A handler that calls ctx.prompt ends its turn there: what
// it replied so far, the question last, goes out as the answer to its message, and its event is
// finished, which frees the chat. The handler then waits, in memory, for the same user's next
// message in that chat. That message is admitted and recorded like any other; at its turn
// MessageHandler takes the wait (take) and hands the message to the handler instead of routing it
// (resume): what the handler replies next is that message's reply, under its event. A timeout (or
// a newer prompt to the same user there) resumes the handler in a turn of its own. A wait does not
// outlive the process: a crash or a shutdown drops it, and the answer reaches handlers as a message.
// With instances sharing the work (SharedWaits, src/cluster/prompt-route.ts) a wait is also recorded
// in the store, and an answer another instance takes is handed to the one holding the wait.

import { randomUUID } from 'node:crypto';
import type { Context } from '../bot/context.js';
import { answerOf, promptTimeoutMs, type Answer, type PromptOptions } from '../bot/prompt.js';
import { toSegments, type Content, type Message, type Segment } from '../message.js';
import type { Logger } from '../runtime/logger.js';
import type { RunEnd } from './handle.js';
import type { MessageJournal } from './journal.js';
import type { Request, Result } from './lifecycle.js';
import { Eviction } from '../runtime/eviction.js';

/** One handler run, across its turns: `end` settles the turn in progress. */
interface Conversation {
  ctx: Context;
  /** Settles the turn; made only for a handler that returned a promise or prompted. */
  end?: { resolve(): void; reject(error: unknown): void };
  /** It prompted before `end` was made (within its first synchronous part): the turn ends as soon as it is. */
  ended?: true;
  /** The handler returned or threw: it asks nothing more. */
  settled: boolean;
  waiting?: Waiting;
}

/** A prompt waiting for its answer. */
export interface Waiting {
  readonly key: string;
  /** This wait and no later one at the same key (a hand-over names it). */
  readonly id: string;
  /** The event of the turn that asked. */
  readonly askedIn: string;
  /** The message of the turn that asked: a timeout's turn replies to it. */
  readonly message: Message;
  /** What the conversation was routed as, for the callbacks of the turns after it. */
  readonly request: Request;
  readonly question: readonly Segment[];
  readonly timeoutReply: Content | undefined;
  readonly conversation: Conversation;
  readonly answer: (answer: Answer) => void;
  timer?: NodeJS.Timeout;
}

/** What resumes a waiting handler: the answer's message, or why none came. */
export type Resumption = { waiting: Waiting; by: Message | 'timeout' | 'replaced' };

/** The event a turn after a prompt belongs to: the answer's, or one of its own after a timeout. */
export interface Turn {
  eventId: string;
  message: Message;
  result: Result;
  log: Logger;
}

/** Who may answer: one user in one chat of one platform instance. */
export function keyOf(message: Message): string {
  return `${message.botId}\0${message.channel.id}\0${message.author.id}`;
}

/** An answer's event once onMessage passed it: what a hand-over carries to the instance that asked. */
export type AnswerJournal = Extract<MessageJournal, { stage: 'onMessage' }>;

/**
 * What became of an answer handed to the instance holding its wait: `done` (that instance ran its
 * turn and finished it), `left` (its job goes back to the queue, to be resumed: the asker stopped
 * before every reply was delivered, or this instance is shutting down), `resume` (the asker died
 * during the turn: the event goes on here, from its journal). Undefined: no other instance waits
 * for it, or that one refused it (the wait had ended): handled here as a message.
 */
export type HandOver = 'done' | 'left' | 'resume';

/** The waits of this instance, as SharedWaits sees them. */
export interface LocalWaits {
  /** Takes the wait `id` at `key` from the registry (its timer stopped); undefined once it has ended. */
  claim(key: string, id: string): Waiting | undefined;
  /** Runs an answer's event here as the turn of `waiting`; resolves when it is done (replies sent) or left. */
  answer(eventId: string, journal: AnswerJournal, waiting: Waiting): Promise<RunEnd>;
  /** A claimed wait whose answer went elsewhere after all: it ends as timed out. */
  expire(waiting: Waiting): void;
  readonly size: number;
}

/** Waits recorded where every instance sharing the work can see them (src/cluster/prompt-route.ts). */
export interface SharedWaits {
  attach(local: LocalWaits): void;
  /** Records a new wait; resolves once other instances can find it (never rejects: failing, the answer may be handled as a message). */
  record(waiting: Waiting, timeoutMs: number): Promise<void>;
  /** The wait ended here (answered, timed out, replaced, dropped). */
  forget(waiting: Waiting): void;
  /**
   * A message at its turn on an instance holding no wait for it: handed over if another instance
   * holds one (see HandOver). Undefined at once while no instance has prompted (the hot path).
   */
  handOver(eventId: string, journal: AnswerJournal, log: Logger): Promise<HandOver | undefined> | undefined;
  /** Shutdown: no more hand-overs taken here. */
  close(): void;
}

/** Waits held at most by default; each ends by its timeout (24 h at most) well before, unless a flood of users is prompted at once. */
const defaultMaxWaiting = 100_000;

export class Prompts implements LocalWaits {
  /**
   * At most one per user per chat: a newer prompt replaces the older, which resumes as `replaced`.
   * Bounded by `maxWaiting`: past it the oldest wait ends early as `timeout` (memory does not give way, the wait does).
   */
  private readonly waiting = new Map<string, Waiting>();
  private readonly eviction = new Eviction(this.waiting);
  private closed = false;
  private readonly maxWaiting: number;

  /**
   * `expired` runs the turn of a prompt that ended unanswered (see Resumption); `shared`: instances
   * share the work, and `answered` runs here an answer's event another instance handed over.
   */
  constructor(
    private readonly expired: (resumption: Resumption) => void,
    readonly shared?: SharedWaits,
    private readonly answered?: (eventId: string, journal: AnswerJournal, resumption: Resumption) => Promise<RunEnd>,
    options: { maxWaiting?: number } = {},
  ) {
    this.maxWaiting = options.maxWaiting ?? defaultMaxWaiting;
    shared?.attach(this);
  }

  /** How many prompts wait now. */
  get size(): number {
    return this.waiting.size;
  }

  /**
   * Runs a handler with ctx.prompt bound; settles (or throws, or rejects) when it returns (throws)
   * or prompts. A handler that returned no promise and did not prompt (most) is done at once: no
   * promise, and the message goes on in the same turn.
   */
  run(ctx: Context, handler: () => void | Promise<void>): void | Promise<void> {
    const conversation: Conversation = { ctx, settled: false };
    ctx.prompter = (content, options) => this.prompt(conversation, content, options);
    let running: void | Promise<void>;
    try {
      running = handler();
    } catch (error) {
      this.settle(conversation);
      throw error;
    }
    if (!running && !conversation.waiting) return void this.settle(conversation);
    return new Promise<void>((resolve, reject) => {
      conversation.end = { resolve, reject };
      if (conversation.ended) resolve();
      // Returned at once but prompted without awaiting: the prompt is dropped, and the turn ends now.
      if (!running) {
        this.settle(conversation);
        return resolve();
      }
      // The turn of the handler's end: this one, or the turn of an answer that resumed it (resume sets `end`).
      running.then(
        () => {
          this.settle(conversation);
          conversation.end!.resolve();
        },
        (error: unknown) => {
          this.settle(conversation);
          conversation.end!.reject(error);
        },
      );
    });
  }

  /** The turn ends at a prompt: its replies, the question last, are sent, and its chat is free. */
  private endTurn(conversation: Conversation): void {
    if (conversation.end) conversation.end.resolve();
    else conversation.ended = true;
  }

  private settle(conversation: Conversation): void {
    conversation.settled = true;
    const { waiting } = conversation;
    // Asked without awaiting the answer: nothing would take its reply, so the wait is dropped.
    if (waiting && this.waiting.get(waiting.key) === waiting) {
      conversation.ctx.log.warn('the handler returned while its ctx.prompt still waited; await ctx.prompt. The prompt is dropped');
      this.drop(waiting);
    }
  }

  private prompt(conversation: Conversation, content: Content, options: PromptOptions): Promise<Answer> {
    if (conversation.settled) return Promise.reject(new Error('ctx.prompt was called after the handler returned; await it inside the handler'));
    if (conversation.waiting) return Promise.reject(new Error('ctx.prompt already waits for an answer; await one prompt before asking the next'));
    let timeoutMs: number;
    try {
      timeoutMs = promptTimeoutMs(options.timeout);
    } catch (error) {
      return Promise.reject(error);
    }
    const { ctx } = conversation;
    const question = toSegments(content);
    ctx.reply(question, { quote: options.quote });
    return new Promise<Answer>((answer) => {
      const { message, request } = ctx;
      const waiting: Waiting = { key: keyOf(message), id: randomUUID(), askedIn: ctx.eventId, message, request, question, timeoutReply: options.timeoutReply, conversation, answer };
      conversation.waiting = waiting;
      // At shutdown the question still goes out, but nothing waits: the answer reaches handlers after the next start.
      if (!this.closed) {
        const older = this.waiting.get(waiting.key);
        this.waiting.set(waiting.key, waiting);
        const arm = () => (waiting.timer = setTimeout(() => this.waiting.get(waiting.key) === waiting && this.end(waiting, 'timeout'), timeoutMs).unref());
        if (older) this.end(older, 'replaced');
        else if (this.waiting.size > this.maxWaiting) this.end(this.eviction.oldest()![1], 'timeout');
        // Not before the others can find the wait: the answer may be taken by any of them once the
        // question is out. Timed from then, so a timeout's turn never starts before the asking turn ends.
        if (this.shared) {
          return void this.shared.record(waiting, timeoutMs).then(() => {
            arm();
            this.endTurn(conversation);
          });
        }
        arm();
      }
      this.endTurn(conversation);
    });
  }

  /** The prompt this message answers (its author's, in its chat), taken from the registry; undefined for most messages. */
  take(message: Message): Waiting | undefined {
    // The hot path: most messages answer nothing, and no key is built while nothing waits.
    if (this.waiting.size === 0) return undefined;
    const waiting = this.waiting.get(keyOf(message));
    if (waiting) this.drop(waiting);
    return waiting;
  }

  /** See LocalWaits.claim. */
  claim(key: string, id: string): Waiting | undefined {
    const waiting = this.waiting.get(key);
    if (waiting?.id !== id) return undefined;
    this.drop(waiting);
    return waiting;
  }

  /** See LocalWaits.answer. */
  answer(eventId: string, journal: AnswerJournal, waiting: Waiting): Promise<RunEnd> {
    return this.answered!(eventId, journal, { waiting, by: journal.message });
  }

  /** See LocalWaits.expire. */
  expire(waiting: Waiting): void {
    this.expired({ waiting, by: 'timeout' });
  }

  /** Hands the handler its answer and runs it as `turn`; resolves (rejects) when it returns (throws) or prompts again. */
  resume({ waiting, by }: Resumption, turn: Turn): Promise<void> {
    const { conversation } = waiting;
    conversation.waiting = undefined;
    conversation.ctx.continueAs(turn.eventId, turn.message, turn.result, turn.log);
    if (by === 'timeout' && waiting.timeoutReply !== undefined) conversation.ctx.reply(waiting.timeoutReply);
    return new Promise<void>((resolve, reject) => {
      conversation.end = { resolve, reject };
      waiting.answer(typeof by === 'string' ? { timedOut: true, reason: by } : answerOf(waiting.question, by));
    });
  }

  /** The turn that asked was refused (onResult rejected it): its question never went out, so nothing waits for an answer. */
  dropAskedIn(eventId: string): void {
    for (const waiting of this.waiting.values()) if (waiting.askedIn === eventId) return this.drop(waiting);
  }

  /** Shutdown: every wait is dropped, its handler never resumed (the next start would not know it either). */
  close(): void {
    this.closed = true;
    for (const waiting of [...this.waiting.values()]) this.drop(waiting);
    this.shared?.close();
  }

  private end(waiting: Waiting, reason: 'timeout' | 'replaced'): void {
    this.drop(waiting);
    this.expired({ waiting, by: reason });
  }

  private drop(waiting: Waiting): void {
    clearTimeout(waiting.timer);
    if (this.waiting.get(waiting.key) !== waiting) return;
    this.waiting.delete(waiting.key);
    this.shared?.forget(waiting);
  }
}
