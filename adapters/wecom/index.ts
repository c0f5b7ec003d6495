// WeCom (企业微信), spoken directly: the callback crypto (WXBizMsgCrypt) with node:crypto, XML with
// fast-xml-parser, HTTP with undici. Two kinds of bot: a group robot (群机器人) hears through its
// callback and replies through the WebhookUrl each callback carries; a self-built app (自建应用)
// hears through its callback and sends through the server API with an access token.

import { defineAdapter, type Adapter, type AdapterContext, type Admission, type SendOptions } from '../../src/adapter.js';
import type { SendLimits } from '../../src/delivery/pacer.js';
import { classifyError, fatal, PlatformError, retryable } from '../../src/delivery/retry.js';
import type { MediaBody, MediaOrigin } from '../../src/media/media.js';
import { startDelivery, type Delivery, type MediaSegment, type OutgoingMessage } from '../../src/message.js';
import { createTransport, describeProxy, type Transport } from '../../src/net/proxy.js';
import { errorMessage } from '../../src/inbound/supervisor.js';
import { AppApi } from './api.js';
import { appTargetOf } from './channel.js';
import { appUploadType, fileName, type Bytes } from './media.js';
import { appLimits, robotLimits } from './limits.js';
import { isAppMessage, isRobotMessage, normalizeApp, normalizeRobot, robotChat, type MediaRef, type NormalizeContext, type RobotChat } from './normalize.js';
import { plan, type Planned } from './render.js';
import { RobotChats, RobotSender } from './robot.js';
import { wecomConfig, type AppConfig, type WecomConfig } from './schema.js';
import { accessTokens, type AccessTokens } from './token.js';
import { callbackKeys, type CallbackKeys } from './verify.js';
import { callbackHandler, urlCheckHandler } from './webhook.js';
import { str } from './xml.js';
import { download, WecomError, type Answer, type WireOptions } from './wire.js';

/** How the adapter talks back while it runs (rebuilt on every start): a robot through chat webhooks, an app through its API. */
type Sender = { kind: 'robot'; chats: RobotChats; robot: RobotSender; name: string | undefined } | { kind: 'app'; api: AppApi; tokens: AccessTokens; agentId: number };

interface Link {
  transport: Transport;
  sender: Sender;
  /** Aborted by stop(): calls under way are abandoned. */
  stopping: AbortController;
}

export interface WecomTimings {
  /** How long a call refused with 45009 waits before it is made again (WeCom's 60 s block); shortened in tests. */
  rateLimitBlockMs?: number;
}

export class WecomAdapter implements Adapter {
  readonly type = 'wecom';
  readonly id: string;
  readonly limits: SendLimits;
  private readonly keys: CallbackKeys;
  /** Robot: each chat's reply URL, kept across restarts. */
  private readonly chats: RobotChats | undefined;
  private ctx: AdapterContext | undefined;
  private link: Link | undefined;
  private mounted = false;

  constructor(
    private readonly config: WecomConfig,
    private readonly timings: WecomTimings = {},
  ) {
    this.id = config.id;
    this.limits = config.kind === 'robot' ? robotLimits : appLimits;
    this.keys = callbackKeys(config.token, config.encodingAESKey);
    this.chats = config.kind === 'robot' ? new RobotChats(config.maxChats, config.apiRoot, config.id) : undefined;
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.ctx) return;
    this.ctx = ctx;
    ctx.media.fetcher(this.id, async (origin) => this.fetchMedia(origin));
    const { config } = this;
    const transport = createTransport(config.proxy);
    const stopping = new AbortController();
    const wire: WireOptions = { dispatcher: transport.dispatcher, signal: stopping.signal, rateLimitBlockMs: this.timings.rateLimitBlockMs };
    const sender: Sender = config.kind === 'robot' ? { kind: 'robot', chats: this.chats!, robot: new RobotSender(wire), name: config.name } : appSender(config, wire);
    this.link = { transport, sender, stopping };
    if (config.proxy) ctx.logger.info({ proxy: describeProxy(config.proxy) }, 'WeCom traffic goes through a proxy');
    const options = {
      keys: this.keys,
      receiveId: config.kind === 'app' ? config.corpId : config.receiveId,
      replayWindowMs: config.replayWindow,
      context: () => this.ctx,
      onCallback: (xml: Record<string, unknown>) => this.onCallback(xml),
    };
    // Routes live as long as the server; a restarted adapter must not mount a second handler.
    if (!this.mounted) {
      ctx.router.get('/', urlCheckHandler(options));
      ctx.router.post('/', callbackHandler(options));
      this.mounted = true;
    }
    ctx.logger.info({ path: `/webhooks/${this.id}`, kind: config.kind }, 'WeCom callback ready: set this URL (on your public address), the Token and the EncodingAESKey in WeCom');
    if (sender.kind === 'app') sender.tokens.get().catch((error: unknown) => ctx.logger.warn({ err: errorMessage(error) }, 'could not get a WeCom access token; check corpId and corpSecret'));
  }

  async stop(): Promise<void> {
    const { link } = this;
    this.ctx = undefined;
    this.link = undefined;
    link?.stopping.abort();
    await link?.transport.close();
  }

  /**
   * One try of an item, from the part `options.sent` on. WeCom takes no idempotency key: a part
   * whose send was under way when the connection failed is not made again (see wire.ts).
   */
  async send(message: OutgoingMessage, options?: SendOptions): Promise<Delivery> {
    const { ids, done } = startDelivery();
    const link = this.link;
    if (!link) return done('the WeCom platform is not running', retryable);
    const { sender } = link;
    const signal = options?.signal;
    const from = options?.sent ?? 0;
    try {
      if (sender.kind === 'robot') {
        const chat = await this.replyChat(sender.chats, message.to.channelId);
        if (!chat) return done(`no reply URL known for WeCom chat "${message.to.channelId}": a robot can only send to a chat it has heard from`, fatal);
        for (const [n, item] of plan(message.content, 'robot').slice(from).entries()) {
          if (n > 0 && options && !(await options.pace())) return done('shutting down', retryable);
          if (item.kind === 'text') await sender.robot.text(chat, item.text, item.mentionAll, signal);
          else if (item.kind === 'markdown') await sender.robot.markdown(chat, item.text, signal);
          else await sender.robot.media(chat, await this.bytes(item.media, signal), item.media.type === 'image', signal);
          ids.push(noId);
        }
        return done();
      }
      const target = appTargetOf(message.to.channelId);
      if (!target) return done(`not a WeCom app channel id: "${message.to.channelId}"; expected user:<userid> or chat:<chatid>`, fatal);
      for (const [n, item] of plan(message.content, 'app').slice(from).entries()) {
        if (n > 0 && options && !(await options.pace())) return done('shutting down', retryable);
        const body = await this.appBody(item, sender.api, signal);
        const answer = target.kind === 'user' ? await sender.api.post('message/send', { touser: target.userId, agentid: sender.agentId, ...body }, signal) : await sender.api.post('appchat/send', { chatid: target.chatId, ...body }, signal);
        recordId(answer, ids);
      }
      return done();
    } catch (error) {
      return done(errorMessage(error), classifyError(error));
    }
  }

  /** The message fields for one planned item (uploading a file first, unless WeCom already has it). */
  private async appBody(item: Planned, api: AppApi, signal: AbortSignal | undefined): Promise<Record<string, unknown>> {
    if (item.kind !== 'media') return { msgtype: 'text', text: { content: item.text } };
    const known = this.knownMediaId(item.media);
    if (known) return mediaBody(item.media.type === 'image' ? 'image' : item.media.type === 'audio' ? 'voice' : item.media.type, known);
    const bytes = await this.bytes(item.media, signal);
    const type = appUploadType(item.media, bytes);
    return mediaBody(type, await api.upload(type, bytes, signal));
  }

  /** The media_id of a file this app received (valid three days), so echoing it needs no download or upload. */
  private knownMediaId(media: MediaSegment): string | undefined {
    const origin = media.url ? this.ctx?.media.origin(media.url) : undefined;
    return origin?.botId === this.id && origin.ref.startsWith('media:') ? origin.ref.slice('media:'.length) : undefined;
  }

  private async bytes(media: MediaSegment, signal: AbortSignal | undefined): Promise<Bytes> {
    let body: MediaBody | undefined;
    if (media.data) body = { data: media.data, mime: media.mime ?? 'application/octet-stream' };
    else if (media.url) body = (await this.ctx?.media.load(media.url)) ?? (await download('media download', media.url, { mime: media.mime, dispatcher: this.link?.transport.dispatcher, signal }));
    if (!body) throw new Error(`${media.type} has neither url nor data`);
    const mime = media.mime ?? body.mime;
    return { data: body.data, mime, name: media.name ?? body.name ?? fileName(media, mime) };
  }

  /** The chat's reply URL; a store that cannot be read now may be read on the next try. */
  private async replyChat(chats: RobotChats, chatId: string): Promise<RobotChat | undefined> {
    const ctx = this.ctx;
    if (!ctx) return chats.get(chatId);
    try {
      return await chats.find(chatId, ctx.store);
    } catch (error) {
      throw new PlatformError(`could not read the chat's reply URL from the store: ${errorMessage(error)}`, retryable);
    }
  }

  private async onCallback(xml: Record<string, unknown>): Promise<Admission> {
    const { ctx, link } = this;
    if (!ctx || !link) return 'closed';
    const { sender } = link;
    if (sender.kind === 'robot') {
      const chat = robotChat(xml);
      // Every callback refreshes the chat's reply URL, events too (added to a group, a user opening a chat).
      if (chat) {
        let kept: boolean;
        try {
          kept = await sender.chats.keep(chat, ctx.store);
        } catch (error) {
          // Without its URL kept, a reply left for the next start could not go out: WeCom is asked to deliver it again.
          ctx.logger.error({ chat: chat.chatId, err: errorMessage(error) }, 'could not keep a WeCom chat\'s reply URL in the store');
          return 'closed';
        }
        if (!kept) ctx.logger.warn({ chat: chat.chatId }, 'WeCom sent a WebhookUrl that is not apiRoot\'s webhook/send URL; replies to this chat cannot be sent');
      }
      if (!chat || !isRobotMessage(xml)) return 'accepted';
      return ctx.dispatch({ ...keyOf(xml), normalize: () => normalizeRobot(xml, chat, sender.name, this.normalizeContext(ctx)) });
    }
    if (!isAppMessage(xml)) return 'accepted'; // events (enter_agent, subscribe…) are not messages
    return ctx.dispatch({ ...keyOf(xml), normalize: () => normalizeApp(xml, this.normalizeContext(ctx)) });
  }

  private normalizeContext(ctx: AdapterContext): NormalizeContext {
    return {
      botId: this.id,
      mediaUrl: (ref: MediaRef, mime: string, name?: string) =>
        ctx.media.registerFetched({ botId: this.id, ref: ref.kind === 'url' ? ref.url : `media:${ref.mediaId}`, mime, name }),
    };
  }

  /**
   * Fetches media a message referred to, when a handler asks (maybe after a restart, or on another
   * instance than the one that took the message): with the link running then.
   */
  private fetchMedia({ ref, mime = 'application/octet-stream', name }: MediaOrigin): Promise<MediaBody> {
    if (!this.link) throw new Error('the WeCom platform is not running');
    const { sender, transport } = this.link;
    if (!ref.startsWith('media:')) return download('WeCom image download', ref, { mime, name, dispatcher: transport.dispatcher });
    if (sender.kind !== 'app') throw new Error('a media_id reaches only a WeCom app');
    return sender.api.mediaGet(ref.slice('media:'.length), mime, name);
  }
}

function appSender(config: AppConfig, wire: WireOptions): Sender {
  const tokens = accessTokens({ apiRoot: config.apiRoot, corpId: config.corpId, corpSecret: config.corpSecret, wire });
  return { kind: 'app', tokens, api: new AppApi(config.apiRoot, tokens, wire), agentId: config.agentId };
}

function mediaBody(type: 'image' | 'voice' | 'video' | 'file', mediaId: string): Record<string, unknown> {
  return { msgtype: type, [type]: { media_id: mediaId } };
}

/** The dedup key of a message callback: its MsgId, the same when WeCom delivers it again. */
function keyOf(xml: Record<string, unknown>): { key?: string } {
  const id = str(xml.MsgId);
  return id ? { key: id } : {};
}

/**
 * A robot's message and an app chat's have no id; they still count as sent parts (the core
 * counts parts by ids, and a later try goes on after them), so each is recorded as "".
 */
const noId = '';

function recordId(answer: Answer, ids: string[]): void {
  ids.push(typeof answer.msgid === 'string' && answer.msgid ? answer.msgid : noId);
  if (typeof answer.invaliduser === 'string' && answer.invaliduser) throw new WecomError(undefined, `WeCom could not deliver to: ${answer.invaliduser} (not in the app's visible range, or no such user)`);
}

export default defineAdapter({
  type: 'wecom',
  configSchema: wecomConfig,
  create: (config) => new WecomAdapter(config),
});
