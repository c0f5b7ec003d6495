import type { PassThrough } from 'node:stream';
import { sseFrame } from '../../src/inbound/sse.js';
import type { Button } from '../../src/message.js';
import { Eviction } from '../../src/runtime/eviction.js';

/** A segment as the page receives it: media always by URL. */
export type PageSegment =
  | { type: 'text'; text: string }
  | { type: 'mention'; userId?: string; name?: string; all?: boolean }
  | { type: 'image' | 'audio' | 'video' | 'file'; url: string; name?: string; mime?: string }
  | { type: 'quote'; messageId: string }
  | { type: 'link'; url: string; text?: string }
  | { type: 'buttons'; rows: Button[][] };

export interface ChatMessage {
  id: string;
  chatId: string;
  from: { id: string; name: string; isBot: boolean };
  replyTo?: string;
  timestamp: number;
  segments: PageSegment[];
}

/** Chat histories (bounded: past `maxChats` the chat started longest ago is forgotten) and the pages listening to each chat over SSE. */
export class Chats {
  private readonly histories = new Map<string, ChatMessage[]>();
  private readonly eviction = new Eviction(this.histories);
  private readonly listeners = new Map<string, Set<PassThrough>>();

  constructor(
    private readonly historySize: number,
    private readonly maxChats = 1000,
  ) {}

  /** Chats with a history now. */
  get size(): number {
    return this.histories.size;
  }

  append(message: ChatMessage): void {
    let history = this.histories.get(message.chatId);
    if (!history) {
      history = [];
      this.histories.set(message.chatId, history);
      if (this.histories.size > this.maxChats) this.histories.delete(this.eviction.oldest()![0]);
    }
    history.push(message);
    if (history.length > this.historySize) history.splice(0, history.length - this.historySize);
    this.broadcast(message.chatId, 'message', message);
  }

  /** A bot message still being written: shown to the pages watching the chat, kept in no history until it is appended. */
  update(message: ChatMessage): void {
    this.broadcast(message.chatId, 'update', message);
  }

  private broadcast(chatId: string, event: string, message: ChatMessage): void {
    const listeners = this.listeners.get(chatId);
    if (!listeners) return;
    const frame = sseFrame(event, message);
    for (const stream of listeners) stream.write(frame);
  }

  history(chatId: string): ChatMessage[] {
    return this.histories.get(chatId) ?? [];
  }

  /** Sends one chat's new messages to `stream` (an open SSE response) until it closes. */
  subscribe(chatId: string, stream: PassThrough): void {
    let listeners = this.listeners.get(chatId);
    if (!listeners) this.listeners.set(chatId, (listeners = new Set()));
    listeners.add(stream);
    const drop = () => {
      listeners.delete(stream);
      if (listeners.size === 0 && this.listeners.get(chatId) === listeners) this.listeners.delete(chatId);
    };
    stream.once('close', drop);
    stream.once('finish', drop);
  }

  closeAll(): void {
    for (const listeners of this.listeners.values()) for (const stream of listeners) stream.end();
    this.listeners.clear();
  }
}
