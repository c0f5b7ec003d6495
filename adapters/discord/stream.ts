// How Discord shows a reply while it is written: the message is sent with the first text and
// edited (PATCH /channels/{id}/messages/{id}) as it grows; the last edit carries the final
// rendering (mentions that may ping, buttons, files), and what one message cannot hold follows it.

import { randomBytes } from 'node:crypto';
import type { APIAllowedMentions, APIMessage, RawFile, REST } from 'discord.js';
import { Routes } from './sdk.js';
import type { LiveMessage, SendOptions, StreamStep, Streaming } from '../../src/adapter.js';
import { retryable } from '../../src/delivery/retry.js';
import { startDelivery, type Delivery, type OutgoingMessage, type Segment } from '../../src/message.js';
import { classify, describe } from './errors.js';
import { plan, quotedId, textLimit, type Planned } from './render.js';

/** What a growing message needs of the adapter. */
export interface DiscordSender {
  readonly rest: REST | undefined;
  postPlanned(messages: readonly Planned[], allowedMentions: APIAllowedMentions, channelId: string, quote: string | undefined, options: SendOptions | undefined): Promise<Delivery>;
  render(item: Planned, allowedMentions: APIAllowedMentions): Promise<{ body: Record<string, unknown>; files: RawFile[] }>;
}

/** Nothing in a half-written text pings anyone; the final rendering says who may be. */
const silent: APIAllowedMentions = { parse: [], replied_user: false };
const ok: StreamStep = { ok: true };

export function discordStreaming(sender: DiscordSender): Streaming {
  return {
    maxLength: textLimit,
    // A channel's messages are limited to 5 per 5 s (the declared `limits`, a burst of 5): edits
    // spaced a second apart keep that burst for the sends around the stream.
    minIntervalMs: 1000,
    open: (message, signal, pace) => new GrowingMessage(sender, message, signal, pace),
  };
}

class GrowingMessage implements LiveMessage {
  id: string | undefined;
  /** Nonces for this reply's messages: the first send and the ones finish makes. */
  private readonly key = randomBytes(12).toString('base64url');

  constructor(
    private readonly sender: DiscordSender,
    private readonly message: OutgoingMessage,
    private readonly signal: AbortSignal,
    private readonly pace: () => Promise<boolean>,
  ) {}

  async update(text: string): Promise<StreamStep> {
    // Discord refuses an empty message; whitespace alone shows as nothing. The next update sends the text with it.
    if (text.trim() === '') return ok;
    const rest = this.sender.rest;
    if (!rest) return { ok: false, error: 'the Discord platform is not running', failure: retryable };
    const channelId = this.message.to.channelId;
    try {
      if (this.id === undefined) {
        const quote = quotedId([], this.message.replyTo);
        const body = { content: text, allowed_mentions: silent, nonce: this.key, enforce_nonce: true, ...(quote ? { message_reference: { message_id: quote, fail_if_not_exists: false } } : {}) };
        this.id = ((await rest.post(Routes.channelMessages(channelId), { body, signal: this.signal })) as APIMessage).id;
      } else await rest.patch(Routes.channelMessage(channelId, this.id), { body: { content: text, allowed_mentions: silent }, signal: this.signal });
      return ok;
    } catch (error) {
      return { ok: false, error: describe(error), failure: classify(error) };
    }
  }

  async finish(content: Segment[]): Promise<Delivery> {
    const { messages, allowedMentions } = plan(content);
    const options = { key: this.key, sent: 0, signal: this.signal, pace: this.pace };
    const channelId = this.message.to.channelId;
    // Nothing shown yet (the stream ended before its first update): an ordinary reply.
    if (this.id === undefined) return this.sender.postPlanned(messages, allowedMentions, channelId, quotedId(content, this.message.replyTo), options);
    const { ids, done } = startDelivery();
    const [first, ...more] = messages;
    const rest = this.sender.rest;
    if (!rest) return done('the Discord platform is not running', retryable);
    try {
      if (first) {
        // The last edit: the final text, buttons and files (a PATCH carries attachments like a send).
        const { body, files } = await this.sender.render(first, allowedMentions);
        await rest.patch(Routes.channelMessage(channelId, this.id), { body, files: files.length ? files : undefined, signal: this.signal });
      }
    } catch (error) {
      return done(describe(error), classify(error));
    }
    ids.push(this.id);
    if (more.length === 0) return done();
    if (!(await this.pace())) return done('shutting down', retryable);
    // Further messages get nonces of their own (parts 1.. of this reply's key; part 0 was the first send).
    const after = await this.sender.postPlanned(more, allowedMentions, channelId, undefined, { ...options, key: `${this.key}:more` });
    ids.push(...after.ids);
    return after.ok ? done() : done(after.error, after.failure);
  }
}
