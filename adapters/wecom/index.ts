// WeCom (企业微信), spoken directly: the callback crypto (WXBizMsgCrypt) with node:crypto, XML with
// fast-xml-parser, HTTP with undici. Two kinds of bot: a group robot (群机器人) hears through its
// callback and replies through the WebhookUrl each callback carries; a self-built app (自建应用)
// hears through its callback and sends through the server API with an access token.

import { defineAdapter, type Adapter, type AdapterContext, type Admission } from '../../src/adapter.js';
import type { MediaBody } from '../../src/media/media.js';
import { startDelivery, type Delivery, type MediaSegment, type OutgoingMessage } from '../../src/message.js';
import { createTransport, describeProxy, type Transport } from '../../src/net/proxy.js';
import { errorMessage } from '../../src/inbound/supervisor.js';
import { AppApi } from './api.js';
import { appTargetOf } from './channel.js';
import { appUploadType, fileName, type Bytes } from './media.js';
import { isAppMessage, isRobotMessage, normalizeApp, normalizeRobot, robotChat, type MediaRef, type NormalizeContext } from './normalize.js';
import { plan, type Planned } from './render.js';
import { RobotChats, RobotSender } from './robot.js';
import { wecomConfig, type AppConfig, type WecomConfig } from './schema.js';
import { AccessTokens } from './token.js';
import { callbackKeys, type CallbackKeys } from './verify.js';
import { callbackHandler, urlCheckHandler } from './webhook.js';
import { defaultRateLimitRetry, download, WecomError, type Answer, type RateLimitRetry, type WireOptions } from './wire.js';

/** How the adapter talks back while it runs (rebuilt on every start): a robot through chat webhooks, an app through its API. */
type Sender = { kind: 'robot'; chats: RobotChats; robot: RobotSender; name: string | undefined } | { kind: 'app'; api: AppApi; tokens: AccessTokens; agentId: number };

interface Link {
  transport: Transport;
  sender: Sender;
  /** Aborted by stop(): ends a wait for WeCom's rate limit. */
  stopping: AbortController;
}

export interface WecomTimings {
  /** How a call WeCom refused for its rate limit (45009) is made again. */
  rateLimit: Omit<RateLimitRetry, 'signal'>;
}

const defaultTimings: WecomTimings = { rateLimit: defaultRateLimitRetry };

export class WecomAdapter implements Adapter {
  readonly type = 'wecom';
  readonly id: string;
  private readonly keys: CallbackKeys;
  /** Robot: each chat's reply URL, kept across restarts. */
  private readonly chats: RobotChats | undefined;
  private ctx: AdapterContext | undefined;
  private link: Link | undefined;
  private mounted = false;

  constructor(
    private readonly config: WecomConfig,
    private readonly timings: WecomTimings = defaultTimings,
  ) {
    this.id = config.id;
    this.keys = callbackKeys(config.token, config.encodingAESKey);
    this.chats = config.kind === 'robot' ? new RobotChats(config.maxChats, config.apiRoot) : undefined;
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.ctx) return;
    this.ctx = ctx;
    const { config } = this;
    const transport = createTransport(config.proxy);
    const stopping = new AbortController();
    const wire: WireOptions = { dispatcher: transport.dispatcher, retry: { ...this.timings.rateLimit, signal: stopping.signal } };
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

  async send(message: OutgoingMessage): Promise<Delivery> {
    const { ids, done } = startDelivery();
    const link = this.link;
    if (!link) return done('the WeCom platform is not running');
    const { sender } = link;
    try {
      if (sender.kind === 'robot') {
        const chat = sender.chats.get(message.to.channelId);
        if (!chat) return done(`no reply URL known for WeCom chat "${message.to.channelId}": a robot can only send to a chat it has heard from`);
        for (const item of plan(message.content, 'robot')) {
          if (item.kind === 'text') await sender.robot.text(chat, item.text, item.mentionAll);
          else if (item.kind === 'markdown') await sender.robot.markdown(chat, item.text);
          else await sender.robot.media(chat, await this.bytes(item.media), item.media.type === 'image');
        }
        return done();
      }
      const target = appTargetOf(message.to.channelId);
      if (!target) return done(`not a WeCom app channel id: "${message.to.channelId}"; expected user:<userid> or chat:<chatid>`);
      for (const item of plan(message.content, 'app')) {
        const body = await this.appBody(item, sender.api);
        const answer = target.kind === 'user' ? await sender.api.post('message/send', { touser: target.userId, agentid: sender.agentId, ...body }) : await sender.api.post('appchat/send', { chatid: target.chatId, ...body });
        recordId(answer, ids);
      }
      return done();
    } catch (error) {
      return done(errorMessage(error));
    }
  }

  /** The message fields for one planned item (uploading a file first, unless WeCom already has it). */
  private async appBody(item: Planned, api: AppApi): Promise<Record<string, unknown>> {
    if (item.kind !== 'media') return { msgtype: 'text', text: { content: item.text } };
    const known = this.knownMediaId(item.media);
    if (known) return mediaBody(item.media.type === 'image' ? 'image' : item.media.type === 'audio' ? 'voice' : item.media.type, known);
    const bytes = await this.bytes(item.media);
    const type = appUploadType(item.media, bytes);
    return mediaBody(type, await api.upload(type, bytes));
  }

  /** The media_id of a file this app received (valid three days), so echoing it needs no download or upload. */
  private knownMediaId(media: MediaSegment): string | undefined {
    const origin = media.url ? this.ctx?.media.origin(media.url) : undefined;
    return origin?.botId === this.id && origin.ref.startsWith('media:') ? origin.ref.slice('media:'.length) : undefined;
  }

  private async bytes(media: MediaSegment): Promise<Bytes> {
    let body: MediaBody | undefined;
    if (media.data) body = { data: media.data, mime: media.mime ?? 'application/octet-stream' };
    else if (media.url) body = (await this.ctx?.media.load(media.url)) ?? (await download('media download', media.url, { mime: media.mime, dispatcher: this.link?.transport.dispatcher }));
    if (!body) throw new Error(`${media.type} has neither url nor data`);
    const mime = media.mime ?? body.mime;
    return { data: body.data, mime, name: media.name ?? body.name ?? fileName(media, mime) };
  }

  private onCallback(xml: Record<string, unknown>): Promise<Admission> {
    const { ctx, link } = this;
    if (!ctx || !link) return Promise.resolve('closed');
    const { sender } = link;
    if (sender.kind === 'robot') {
      const chat = robotChat(xml);
      // Every callback refreshes the chat's reply URL, events too (added to a group, a user opening a chat).
      if (chat && !sender.chats.remember(chat)) ctx.logger.warn({ chat: chat.chatId }, 'WeCom sent a WebhookUrl that is not apiRoot\'s webhook/send URL; replies to this chat cannot be sent');
      if (!chat || !isRobotMessage(xml)) return Promise.resolve('accepted');
      return ctx.dispatch({ key: String(xml.MsgId), normalize: () => normalizeRobot(xml, chat, sender.name, this.normalizeContext(ctx)) });
    }
    if (!isAppMessage(xml)) return Promise.resolve('accepted'); // events (enter_agent, subscribe…) are not messages
    return ctx.dispatch({ key: String(xml.MsgId), normalize: () => normalizeApp(xml, this.normalizeContext(ctx)) });
  }

  private normalizeContext(ctx: AdapterContext): NormalizeContext {
    // Loaders run when a handler asks, maybe after a restart: they use the link running then.
    const running = (): Link => {
      if (!this.link) throw new Error('the WeCom platform is not running');
      return this.link;
    };
    return {
      botId: this.id,
      mediaUrl: (ref: MediaRef, mime: string, name?: string) => {
        if (ref.kind === 'url') return ctx.media.register(() => download('WeCom image download', ref.url, { mime, name, dispatcher: running().transport.dispatcher }), { botId: this.id, ref: ref.url });
        return ctx.media.register(
          () => {
            const { sender } = running();
            if (sender.kind !== 'app') throw new Error('a media_id reaches only a WeCom app');
            return sender.api.mediaGet(ref.mediaId, mime, name);
          },
          { botId: this.id, ref: `media:${ref.mediaId}` },
        );
      },
    };
  }
}

function appSender(config: AppConfig, wire: WireOptions): Sender {
  const tokens = new AccessTokens({ apiRoot: config.apiRoot, corpId: config.corpId, corpSecret: config.corpSecret, wire });
  return { kind: 'app', tokens, api: new AppApi(config.apiRoot, tokens, wire), agentId: config.agentId };
}

function mediaBody(type: 'image' | 'voice' | 'video' | 'file', mediaId: string): Record<string, unknown> {
  return { msgtype: type, [type]: { media_id: mediaId } };
}

function recordId(answer: Answer, ids: string[]): void {
  if (typeof answer.msgid === 'string' && answer.msgid) ids.push(answer.msgid);
  if (typeof answer.invaliduser === 'string' && answer.invaliduser) throw new WecomError(undefined, `WeCom could not deliver to: ${answer.invaliduser} (not in the app's visible range, or no such user)`);
}

export default defineAdapter({
  type: 'wecom',
  configSchema: wecomConfig,
  create: (config) => new WecomAdapter(config),
});
