// How Telegram shows a reply while it is written. In a private chat: sendMessageDraft (an animated
// preview the user does not keep), then the message itself. Elsewhere (groups, channels, forum
// topics): the message is sent with the first text and edited as it grows, plain text (half-written
// HTML could not be parsed), with the adapter's HTML rendering and keyboard at the last edit.

import { TelegramApiError, type Api } from 'node-telegram-bot-api';
import type { LiveMessage, StreamStep, Streaming } from '../../src/adapter.js';
import { retryable } from '../../src/delivery/retry.js';
import { startDelivery, type ChannelRef, type Delivery, type OutgoingMessage, type Segment } from '../../src/message.js';
import { classify, describe } from './errors.js';
import { plan, quotedId, splitChannel, textLimit, type Planned } from './render.js';

/** What a growing message needs of the adapter: its sending of planned messages. */
export interface PlannedSender {
  sendPlanned(items: readonly Planned[], to: ChannelRef, replyTo: number | undefined, options?: { sent: number; signal: AbortSignal; pace(): Promise<boolean> }): Promise<Delivery>;
}

type Pace = () => Promise<boolean>;

const ok: StreamStep = { ok: true };

export function telegramStreaming(api: Api, sender: PlannedSender): Streaming {
  // draft_id: non-zero, one per streamed message; a random start so a restarted process does not
  // animate a new answer as a change of an old one.
  let nextDraft = 1 + Math.floor(Math.random() * 0x3fff_ffff);
  return {
    maxLength: textLimit,
    open(message, signal, pace) {
      if (message.to.type === 'direct') {
        const draft = nextDraft;
        nextDraft = nextDraft >= 0x7fff_fffe ? 1 : nextDraft + 1;
        return new DraftMessage(api, sender, message, draft, signal, pace);
      }
      return new EditedMessage(api, sender, message, signal, pace);
    },
  };
}

function failed(error: unknown): StreamStep {
  return { ok: false, error: describe(error), failure: classify(error) };
}

/** Private chats: drafts while it grows, then the message, rendered and sent as any reply is. */
class DraftMessage implements LiveMessage {
  readonly draft = true;
  readonly id = undefined;
  private readonly chatId: number;
  private readonly threadId: number | undefined;

  constructor(
    private readonly api: Api,
    private readonly sender: PlannedSender,
    private readonly message: OutgoingMessage,
    private readonly draftId: number,
    private readonly signal: AbortSignal,
    private readonly pace: Pace,
  ) {
    const [chatId, threadId] = splitChannel(message.to.channelId);
    this.chatId = Number(chatId);
    this.threadId = threadId;
  }

  async update(text: string): Promise<StreamStep> {
    try {
      await this.api.sendMessageDraft({ chat_id: this.chatId, message_thread_id: this.threadId, draft_id: this.draftId, text });
      return ok;
    } catch (error) {
      return failed(error);
    }
  }

  finish(content: Segment[]): Promise<Delivery> {
    return this.sender.sendPlanned(plan(content), this.message.to, quotedId(content, this.message.replyTo), { sent: 0, signal: this.signal, pace: this.pace });
  }
}

/** Groups, channels, topics: one message, edited as it grows. */
class EditedMessage implements LiveMessage {
  id: string | undefined;
  private readonly chatId: string;
  private readonly threadId: number | undefined;

  constructor(
    private readonly api: Api,
    private readonly sender: PlannedSender,
    private readonly message: OutgoingMessage,
    private readonly signal: AbortSignal,
    private readonly pace: Pace,
  ) {
    [this.chatId, this.threadId] = splitChannel(message.to.channelId);
  }

  async update(text: string): Promise<StreamStep> {
    // Telegram refuses a message of only whitespace; the next update sends the text with it.
    if (text.trim() === '') return ok;
    try {
      if (this.id === undefined) {
        const replyTo = quotedId([], this.message.replyTo);
        const sent = await this.api.sendMessage({
          chat_id: this.chatId,
          message_thread_id: this.threadId,
          text,
          reply_parameters: replyTo === undefined ? undefined : { message_id: replyTo, allow_sending_without_reply: true },
        });
        this.id = String(sent.message_id);
      } else await this.edit({ text });
      return ok;
    } catch (error) {
      return failed(error);
    }
  }

  async finish(content: Segment[]): Promise<Delivery> {
    const items = plan(content);
    // Nothing shown yet (the stream ended before its first update): an ordinary reply.
    if (this.id === undefined) return this.sender.sendPlanned(items, this.message.to, quotedId(content, this.message.replyTo), { sent: 0, signal: this.signal, pace: this.pace });
    const { ids, done } = startDelivery();
    const first = items[0];
    // The last edit carries the formatting and the keyboard; what a message cannot (images, files, the text past the limit) follows it.
    const edited = first?.kind === 'text' ? 1 : 0;
    try {
      if (first?.kind === 'text') await this.edit({ text: first.html, parse_mode: 'HTML', reply_markup: first.keyboard });
    } catch (error) {
      return done(describe(error), classify(error));
    }
    ids.push(this.id);
    if (items.length === edited) return done();
    if (!(await this.pace())) return done('shutting down', retryable);
    const more = await this.sender.sendPlanned(items.slice(edited), this.message.to, undefined, { sent: 0, signal: this.signal, pace: this.pace });
    ids.push(...more.ids);
    return more.ok ? done() : done(more.error, more.failure);
  }

  private async edit(change: { text: string; parse_mode?: string; reply_markup?: Planned['keyboard'] }): Promise<void> {
    try {
      await this.api.editMessageText({ chat_id: this.chatId, message_id: Number(this.id), ...change });
    } catch (error) {
      // The message already shows this text (Telegram trims trailing spaces, so a growing text can look the same).
      if (error instanceof TelegramApiError && error.errorCode === 400 && error.description.includes('message is not modified')) return;
      throw error;
    }
  }
}
