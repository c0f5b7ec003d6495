// The group robot's side of sending: the reply URL WeCom gave with each chat's callbacks (kept per
// chat, bounded, and in the store so a reply left for the next start can still go out), and the
// webhook send/upload_media calls. The URL carries the robot's key, so it is never logged nor put
// in an error.

import type { KeyValue } from '../../src/store/index.js';
import type { RobotChat } from './normalize.js';
import { inlineImage, isJpegOrPng, robotImageLimit, type Bytes } from './media.js';
import { call, WecomError, type Answer, type WireOptions } from './wire.js';
import { Eviction } from '../../src/runtime/eviction.js';

/** How long the store keeps a chat's reply URL after this process first heard from the chat. */
const keptMs = 30 * 24 * 3_600_000;

export class RobotChats {
  private readonly chats = new Map<string, RobotChat>();
  private readonly eviction = new Eviction(this.chats);
  private readonly sendUrl: URL;

  /**
   * `apiRoot`: WeCom's server (https://qyapi.weixin.qq.com); every reply URL must be its webhook/send.
   * `botId`: the platform's id, which keeps its chats apart from another robot's in the store.
   */
  constructor(
    private readonly max: number,
    apiRoot: string,
    private readonly botId: string,
  ) {
    this.sendUrl = new URL(`${apiRoot.replace(/\/+$/, '')}/cgi-bin/webhook/send`);
  }

  /** Remembers a chat here and in `store`, written when this process first hears from it or its URL changes. */
  async keep(chat: RobotChat, store: KeyValue): Promise<boolean> {
    const held = this.chats.get(chat.chatId);
    if (!this.remember(chat)) return false;
    if (held?.webhookUrl !== chat.webhookUrl) await store.set(this.keyOf(chat.chatId), chat, keptMs);
    return true;
  }

  /** A chat heard from, by this process or one before it; what the store gives is checked as a callback's URL is. */
  async find(chatId: string, store: KeyValue): Promise<RobotChat | undefined> {
    const known = this.chats.get(chatId);
    if (known) return known;
    const saved = await store.get<RobotChat>(this.keyOf(chatId));
    return saved && this.remember(saved) ? saved : undefined;
  }

  private keyOf(chatId: string): string {
    return `wecom:${this.botId}:chat:${chatId}`;
  }

  /** Remembers (or refreshes) a chat's reply URL; false when the URL is not apiRoot's webhook send URL. */
  remember(chat: RobotChat): boolean {
    if (!this.isSendUrl(chat.webhookUrl)) return false;
    this.chats.delete(chat.chatId); // re-inserted as the newest
    this.chats.set(chat.chatId, chat);
    if (this.chats.size > this.max) this.chats.delete(this.eviction.oldest()![0]);
    return true;
  }

  get(chatId: string): RobotChat | undefined {
    return this.chats.get(chatId);
  }

  /**
   * The URL comes inside a callback, and we POST to it (and to its upload_media): anything but
   * WeCom's own send endpoint would let whoever can shape a callback aim our requests anywhere.
   */
  private isSendUrl(value: string): boolean {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return false;
    }
    return url.origin === this.sendUrl.origin && url.pathname === this.sendUrl.pathname && !url.username && !url.password && !!url.searchParams.get('key');
  }
}

/** The webhook send/upload_media calls, each made once (`signal`: the send's). */
export class RobotSender {
  constructor(private readonly wire: WireOptions) {}

  text(chat: RobotChat, content: string, mentionAll: boolean, signal?: AbortSignal): Promise<Answer> {
    return this.send(chat, { msgtype: 'text', text: { content, ...(mentionAll ? { mentioned_list: ['@all'] } : {}) } }, signal);
  }

  markdown(chat: RobotChat, content: string, signal?: AbortSignal): Promise<Answer> {
    return this.send(chat, { msgtype: 'markdown', markdown: { content } }, signal);
  }

  /** An image inline when WeCom allows (JPG/PNG, at most 2 MB), anything else as a file. */
  async media(chat: RobotChat, bytes: Bytes, image: boolean, signal?: AbortSignal): Promise<Answer> {
    if (image && isJpegOrPng(bytes.data) && bytes.data.byteLength <= robotImageLimit) return this.send(chat, { msgtype: 'image', image: inlineImage(bytes.data) }, signal);
    if (bytes.data.byteLength <= 5) throw new WecomError(undefined, 'WeCom takes no file of 5 bytes or less');
    const url = new URL(chat.webhookUrl);
    url.pathname = url.pathname.replace(/\/send$/, '/upload_media');
    url.searchParams.set('type', 'file');
    const uploaded = await call('webhook/upload_media', url.href, { method: 'POST', file: bytes, repeatable: true, signal }, this.wire);
    if (typeof uploaded.media_id !== 'string') throw new WecomError(undefined, 'WeCom webhook/upload_media answered without media_id');
    return this.send(chat, { msgtype: 'file', file: { media_id: uploaded.media_id } }, signal);
  }

  private send(chat: RobotChat, body: Record<string, unknown>, signal: AbortSignal | undefined): Promise<Answer> {
    return call('webhook/send', chat.webhookUrl, { method: 'POST', json: { chatid: chat.chatId, ...body }, signal }, this.wire);
  }
}
