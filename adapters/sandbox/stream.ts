// Streaming in the sandbox: the bot's bubble grows on the page. Each update sends the pages
// watching the chat an `update` event, the bubble with its whole text so far; the finished bubble
// is an ordinary `message` event with the same id, which replaces it and joins the history.

import type { LiveMessage, Streaming } from '../../src/adapter.js';
import { retryable } from '../../src/delivery/retry.js';
import type { MediaStore } from '../../src/media/media.js';
import type { Delivery, OutgoingMessage, Segment } from '../../src/message.js';
import type { ChatMessage, Chats } from './chats.js';
import { render } from './render.js';

/** What a growing bubble needs from its adapter. */
export interface BubbleSide {
  chats: Chats;
  from: ChatMessage['from'];
  newId(): string;
  /** The running sandbox's media store; undefined once it stopped. */
  media(): MediaStore | undefined;
}

/**
 * No platform limit on a bubble: past this a long answer goes on in a new one. Every update carries
 * the whole text (a page that joins midway shows it all), so they are kept to 20 a second.
 */
export function sandboxStreaming(side: BubbleSide): Streaming {
  return { maxLength: 65_536, minIntervalMs: 50, open: (message) => new Bubble(side, message) };
}

class Bubble implements LiveMessage {
  id: string | undefined;
  /** Fixed at the first update: the bubble keeps its place on the page while it grows. */
  private timestamp = 0;

  constructor(
    private readonly side: BubbleSide,
    private readonly message: OutgoingMessage,
  ) {}

  async update(text: string): Promise<{ ok: true }> {
    this.side.chats.update(this.bubble([{ type: 'text', text }]));
    return { ok: true };
  }

  async finish(content: Segment[]): Promise<Delivery> {
    const media = this.side.media();
    if (!media) return { ok: false, ids: [], error: 'sandbox is not running', failure: retryable, ms: 0 };
    const bubble = this.bubble(render(content, media));
    this.side.chats.append(bubble);
    return { ok: true, ids: [bubble.id], ms: 0 };
  }

  private bubble(segments: ChatMessage['segments']): ChatMessage {
    this.id ??= this.side.newId();
    this.timestamp ||= Date.now();
    return { id: this.id, chatId: this.message.to.channelId, from: this.side.from, replyTo: this.message.replyTo, timestamp: this.timestamp, segments };
  }
}
