import type { Request, Result } from '../pipeline/lifecycle.js';
import type { Logger } from '../runtime/logger.js';
import type { MediaBody } from '../media/media.js';
import type { KeyValue } from '../store/index.js';
import { State } from './state.js';
import { toSegments, type ChannelRef, type Content, type MediaSegment, type Message } from '../message.js';
import type { Answer, PromptOptions, Prompter } from './prompt.js';
import { attachStream, isReplyStream, pushStream, type ReplyStream, type StreamWriter } from './stream.js';

export type Downloader = (segment: MediaSegment) => Promise<MediaBody>;

export interface ReplyOptions {
  /** Quote the message being answered, where the platform can (default true). */
  quote?: boolean;
}

/**
 * What a handler sees for one message. Replies are collected, not sent at once: the
 * onResult stage sees them all before anything reaches the chat.
 */
export class Context<Args = Record<string, unknown>> {
  /** Scratch space shared by middleware and the handler for this one message; forgotten after it. */
  readonly locals: Record<string, unknown> = {};
  private kept: State | undefined;
  /** Set by the pipeline for the handler run this context belongs to: how ctx.prompt waits. */
  prompter: Prompter | undefined;

  constructor(
    readonly eventId: string,
    readonly message: Message,
    readonly request: Request,
    readonly result: Result,
    readonly log: Logger,
    private readonly downloader: Downloader,
    private readonly store: KeyValue,
  ) {}

  /** What the bot keeps between messages, in the configured store: per user, chat, platform entry, or global (docs/state.md). */
  get state(): State {
    const { message } = this;
    return (this.kept ??= new State(this.store, message.botId, message.author.id, message.channel.id));
  }

  /** The bytes of an image or file: fetched only now, when asked, within the operator's limits. */
  download(segment: MediaSegment): Promise<MediaBody> {
    return this.downloader(segment);
  }

  get text(): string {
    return this.message.text;
  }

  get args(): Args {
    return this.request.args as Args;
  }

  get command(): string | null {
    return this.request.command;
  }

  /**
   * Answers in the same chat. A stream (any AsyncIterable of text chunks and segments) is shown
   * as it grows where the platform can, and may go on after the handler returns (docs/streaming.md).
   */
  reply(content: Content | ReplyStream, options: ReplyOptions = {}): void {
    const { message } = this;
    const stream = isReplyStream(content) ? content : undefined;
    const item = {
      to: { botId: message.botId, channelId: message.channel.id, type: message.channel.type },
      content: stream ? [] : toSegments(content as Content),
      replyTo: options.quote === false ? undefined : message.id,
      inResponseTo: message.id,
    };
    this.result.replies.push(stream ? attachStream(item, stream) : item);
  }

  /** A reply written piece by piece: `write(text)` as it comes, then `end()` (or `fail(error)`). */
  stream(options: ReplyOptions = {}): StreamWriter {
    const { writer, stream } = pushStream();
    this.reply(stream, options);
    return writer;
  }

  /**
   * Asks and waits for the same user's next message in this chat (docs/conversations.md). What was
   * replied so far, the question last, goes out now; the chat goes on meanwhile. After the answer,
   * ctx.message, ctx.eventId and replies are the answer's.
   */
  prompt(content: Content, options: PromptOptions = {}): Promise<Answer> {
    if (!this.prompter) return Promise.reject(new Error('ctx.prompt works only in a handler the pipeline runs for a message'));
    return this.prompter(content, options);
  }

  /** The pipeline's: after a prompt the handler goes on as the handler of the next event (the answer, or a timeout). */
  continueAs(eventId: string, message: Message, result: Result, log: Logger): void {
    Object.assign(this, { eventId, message, result, log });
  }

  /** Sends to any chat on any configured platform. */
  send(to: ChannelRef, content: Content): void {
    this.result.replies.push({ to, content: toSegments(content), inResponseTo: this.message.id });
  }
}
