// Feishu / Lark (one adapter, two clouds) through @larksuiteoapi/node-sdk: events by encrypted,
// signed webhook or by the SDK's long connection, replies through the SDK's Client.

import { DefaultCache, EventDispatcher, LoggerLevel } from './sdk.js';
import { defineAdapter, type Adapter, type AdapterContext, type Admission, type SendOptions, type Streaming } from '../../src/adapter.js';
import { idempotencyKey } from '../../src/delivery/idempotency.js';
import type { SendLimits } from '../../src/delivery/pacer.js';
import { classifyError, retryable } from '../../src/delivery/retry.js';
import { quotedMessageId, startDelivery, type Delivery, type MediaSegment, type OutgoingMessage } from '../../src/message.js';
import { errorMessage, type Supervisor } from '../../src/inbound/supervisor.js';
import { LarkApi, sdkLogger, type MessageBody } from './api.js';
import { ChatKinds } from './chats.js';
import { runLongConnection } from './longconn.js';
import { bytesOf, uploadLimit } from './media.js';
import { isReceiveEvent, normalize, normalizeCardAction, type CardActionEvent, type ReceiveEvent, type ResourceType } from './normalize.js';
import { card, fileType, plan, type Planned } from './render.js';
import { larkConfig, type LarkConfig } from './schema.js';
import { larkStreaming } from './stream.js';
import { aesKey } from './verify.js';
import { webhookHandler } from './webhook.js';

export interface LarkTimings {
  /** How long GET /open-apis/bot/v3/info may take. */
  botInfoTimeoutMs: number;
  /** How long any one call to the open API (send, upload, resource, token) may go unanswered. */
  apiTimeoutMs: number;
  /** How long a message waits for the bot's open_id (needed to see @mentions of the bot) before going on without it. */
  selfWaitMs: number;
  /** Websocket mode: handshake timeout, and seconds without a pong before the socket is replaced. */
  handshakeTimeoutMs: number;
  pingTimeoutSeconds: number;
}

export const defaultTimings: LarkTimings = { apiTimeoutMs: 30_000, botInfoTimeoutMs: 10_000, selfWaitMs: 2_000, handshakeTimeoutMs: 15_000, pingTimeoutSeconds: 30 };

/** Largest inbound resource fetched on a handler's request. */
const maxResourceBytes = 20 * 1024 * 1024;

export class LarkAdapter implements Adapter {
  readonly type = 'lark';
  readonly id: string;
  private readonly encryption: { encryptKey: string; key: Buffer } | undefined;
  private api: LarkApi | undefined;
  private ctx: AdapterContext | undefined;
  private dispatcher: EventDispatcher | undefined;
  private supervisor: Supervisor | undefined;
  private self: { openId: string; name?: string } | undefined;
  private selfPending: Promise<void> | undefined;
  private readonly chats = new ChatKinds();
  private mounted = false;

  /**
   * Lark's send message API (open.feishu.cn/document/server-docs/im-v1/message/create; reply has
   * the same): 1000 calls a minute and 50 a second per app, and 5 a second to one user or one
   * group, shared by the group's bots. 1000 a minute with a burst of 33 keeps any one second
   * under 50; a chat's five are spread evenly.
   */
  readonly limits: SendLimits = { bot: { count: 1000, perMs: 60_000, burst: 33 }, chat: { count: 5, perMs: 1000 } };

  /** A streamed answer: an interactive card patched as it grows (adapters/lark/stream.ts). */
  readonly streaming: Streaming = larkStreaming({ api: () => this.api, send: (message) => this.send(message) });

  constructor(
    private readonly config: LarkConfig,
    private readonly timings: LarkTimings = defaultTimings,
  ) {
    this.id = config.id;
    this.encryption = config.encryptKey ? { encryptKey: config.encryptKey, key: aesKey(config.encryptKey) } : undefined;
  }

  get selfId(): string | undefined {
    return this.self?.openId;
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.ctx) return;
    this.ctx = ctx;
    const { config } = this;
    this.api = new LarkApi({ appId: config.appId, appSecret: config.appSecret, baseUrl: config.baseUrl, logger: ctx.logger, timeoutMs: this.timings.apiTimeoutMs });
    // A message's resource can be fetched from any instance: one that did not see the message can serve its media URL.
    ctx.media.fetcher(this.id, ({ ref, name }) => {
      const [type, messageId, key] = ref.split('/') as [ResourceType, string, string];
      if (!this.api) throw new Error('the Lark platform is not running');
      return this.api.resource(messageId, key, type, name, maxResourceBytes);
    });
    this.dispatcher = this.eventDispatcher(ctx);
    void this.knownSelf();
    if (config.mode === 'webhook') return this.startWebhook(ctx);
    const dispatcher = this.dispatcher;
    this.supervisor = ctx.supervise({
      name: `lark:${this.id}:long-connection`,
      session: (controls) =>
        runLongConnection(
          { appId: config.appId, appSecret: config.appSecret, baseUrl: config.baseUrl, dispatcher, logger: ctx.logger, handshakeTimeoutMs: this.timings.handshakeTimeoutMs, pingTimeoutSeconds: this.timings.pingTimeoutSeconds },
          controls,
        ),
    });
    this.supervisor.start();
  }

  async stop(): Promise<void> {
    const supervisor = this.supervisor;
    this.supervisor = undefined;
    this.ctx = undefined;
    this.dispatcher = undefined;
    await supervisor?.stop();
  }

  async send(message: OutgoingMessage, options?: SendOptions): Promise<Delivery> {
    const { ids, done } = startDelivery();
    const api = this.api;
    if (!api) return done('the Lark platform is not running', retryable);
    // Only a Lark message id (om_…) can be replied to; anything else is sent to the chat.
    let replyTo = quotedMessageId(message.content, message.replyTo);
    if (replyTo !== undefined && !replyTo.startsWith('om_')) replyTo = undefined;
    const parts = plan(message.content);
    try {
      // One message at a time, so the chat sees them in order; parts an earlier try delivered are skipped.
      const from = options?.sent ?? 0;
      for (let index = from; index < parts.length; index++) {
        // The core paced the first part; each further one waits for the platform's next slot.
        if (options?.signal.aborted || (index > from && options && !(await options.pace()))) return done('shutting down', retryable);
        ids.push(
          await api.send(message.to.channelId, await this.bodyOf(parts[index]!, api), {
            // Only the first message of a reply answers the original.
            replyTo: index === 0 ? replyTo : undefined,
            // The same uuid on every try of this part: Lark sends it once however often it is asked.
            uuid: options ? idempotencyKey(options.key, index, 50) : undefined,
            signal: options?.signal,
          }),
        );
      }
      return done();
    } catch (error) {
      return done(errorMessage(error), classifyError(error));
    }
  }

  private async bodyOf(item: Planned, api: LarkApi): Promise<MessageBody> {
    switch (item.kind) {
      case 'text':
        return { msg_type: 'text', content: JSON.stringify({ text: item.text }) };
      case 'card':
        return { msg_type: 'interactive', content: JSON.stringify(card(item.text, item.rows)) };
      case 'media':
        return this.upload(item.media, api);
    }
  }

  /** Images go through im.image.create, everything else through im.file.create (audio and video as files). */
  private async upload(media: MediaSegment, api: LarkApi): Promise<MessageBody> {
    const image = media.type === 'image';
    const bytes = await bytesOf(media, this.ctx?.media, image ? uploadLimit.image : uploadLimit.file);
    if (image) return { msg_type: 'image', content: JSON.stringify({ image_key: await api.uploadImage(bytes.data) }) };
    const name = bytes.name ?? media.type;
    return { msg_type: 'file', content: JSON.stringify({ file_key: await api.uploadFile(bytes.data, name, fileType(media, name)) }) };
  }

  /**
   * One dispatcher for both modes. Handlers resolve once the event is admitted, so the webhook
   * answers (and the long connection ACKs) within Lark's deadline while the bot works on.
   */
  private eventDispatcher(ctx: AdapterContext): EventDispatcher {
    const ws = this.config.mode === 'websocket';
    // Not taken (shutting down, or the store cannot record it): on the long connection a handler
    // error makes the SDK answer code 500, which leaves the event unacknowledged so Lark pushes it again.
    const settle = (admission: Admission) => {
      if (ws && admission === 'closed') throw new Error('not taken now; deliver it again later');
      return admission;
    };
    return new EventDispatcher({ cache: new DefaultCache(), logger: sdkLogger(ctx.logger), loggerLevel: LoggerLevel.warn }).register({
      'im.message.receive_v1': async (data: unknown) => settle(await this.onMessage(data)),
      'card.action.trigger': async (data: unknown) => settle(await this.onCardAction(data as CardActionEvent)),
    });
  }

  private onMessage(data: unknown): Promise<Admission> {
    const ctx = this.ctx;
    const api = this.api;
    if (!ctx || !api) return Promise.resolve('closed');
    if (!isReceiveEvent(data)) {
      ctx.logger.warn('im.message.receive_v1 without message.message_id, chat_id or content; ignored');
      return Promise.resolve('accepted');
    }
    const event: ReceiveEvent = data;
    this.chats.remember(event.message.chat_id, event.message.chat_type === 'p2p' ? 'direct' : 'group');
    return ctx.dispatch({
      // Lark delivers at least once: a retried delivery repeats the event_id, and the same message
      // can also come back under a new event_id (a re-push after a timeout, or the message seen by
      // both the webhook and a long connection). The message_id is the same in every case, so it
      // is the one key that catches both.
      key: `msg:${event.message.message_id}`,
      normalize: async () => {
        await this.knownSelf();
        return normalize(event, {
          botId: this.id,
          selfOpenId: this.self?.openId,
          resourceUrl: (messageId, key, type, name) =>
            ctx.media.registerFetched({ botId: this.id, ref: `${type}/${messageId}/${key}`, name }),
        });
      },
    });
  }

  /** A click on one of our buttons comes back as a message whose text is the button's value. */
  private onCardAction(event: CardActionEvent): Promise<Admission> {
    const ctx = this.ctx;
    if (!ctx) return Promise.resolve('closed');
    const message = normalizeCardAction(event, { botId: this.id, chatType: (chatId) => this.chats.kindOf(chatId) });
    if (!message) return Promise.resolve('accepted'); // not a click on a button of ours
    return ctx.dispatch({ key: `card:${event.event_id ?? message.id}`, normalize: () => message });
  }

  /** Learns the bot's open_id once (retrying on a later message if it failed); waits at most selfWaitMs. */
  private async knownSelf(): Promise<void> {
    if (this.self) return;
    const api = this.api;
    const logger = this.ctx?.logger;
    if (!api) return;
    this.selfPending ??= api
      .botInfo(this.timings.botInfoTimeoutMs)
      .then((self) => {
        this.self = self;
        logger?.info({ openId: self.openId, name: self.name }, 'Lark bot identified');
      })
      .catch((error: unknown) => logger?.warn({ err: errorMessage(error) }, 'could not read the bot info (GET /open-apis/bot/v3/info); @mentions of the bot are not recognized until it succeeds'))
      .finally(() => (this.selfPending = undefined));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.selfPending, new Promise((resolve) => (timer = setTimeout(resolve, this.timings.selfWaitMs)))]);
    clearTimeout(timer);
  }

  private startWebhook(ctx: AdapterContext): void {
    // Routes live as long as the server; a restarted adapter must not mount a second handler.
    if (!this.mounted)
      ctx.router.post(
        '/',
        webhookHandler({
          verificationToken: this.config.verificationToken!,
          replayWindowMs: this.config.replayWindow,
          encryption: this.encryption,
          context: () => this.ctx,
          onEvent: async (event) => ((await this.dispatcher?.invoke(event, { needCheck: false })) === 'closed' || !this.dispatcher ? 'closed' : 'accepted'),
        }),
      );
    this.mounted = true;
    if (!this.encryption) ctx.logger.warn('no encryptKey: Lark events arrive unencrypted and unsigned, checked by the verification token alone; set an Encrypt Key in the developer console');
    ctx.logger.info({ path: `/webhooks/${this.id}` }, 'Lark webhook ready: set https://<your host>/webhooks/<id> as the Request URL under Events & Callbacks');
  }
}

export default defineAdapter({
  type: 'lark',
  configSchema: larkConfig,
  create: (config) => new LarkAdapter(config),
});
