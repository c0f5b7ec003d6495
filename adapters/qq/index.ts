// The QQ official bot (bot.q.qq.com), spoken directly: app access token over undici, events
// by signed webhook (recommended) or the websocket gateway, replies through the OpenAPI.

import { randomUUID } from 'node:crypto';
import { defineAdapter, type Adapter, type AdapterContext, type Admission, type SendOptions } from '../../src/adapter.js';
import type { SendLimits } from '../../src/delivery/pacer.js';
import { classifyError, fatal, retry, retryable } from '../../src/delivery/retry.js';
import { quotedMessageId, startDelivery, type Delivery, type MediaSegment, type OutgoingMessage } from '../../src/message.js';
import { errorMessage, type Supervisor } from '../../src/inbound/supervisor.js';
import { KeptResumePoint } from '../../src/inbound/resume-point.js';
import { OpenApi, QqApiError } from './api.js';
import { endpointsOf, sceneOf, type Scene } from './channel.js';
import { Gateway } from './gateway.js';
import { incoming, normalize, type Payload } from './normalize.js';
import { msgSeq, numbered, PassiveReplies } from './passive.js';
import { linkText, plan, type Planned } from './render.js';
import { qqConfig, type QqConfig } from './schema.js';
import { accessTokens, type AccessTokens } from './token.js';
import { fetchFile } from '../../src/net/fetch-file.js';
import { createTransport, describeProxy, type Transport } from '../../src/net/proxy.js';
import { deriveKeys, type WebhookKeys } from './verify.js';
import { webhookHandler } from './webhook.js';

export interface QqTimings {
  /** Gateway: how long to wait for HELLO once connecting. */
  helloTimeoutMs: number;
  /** Gateway: no sign of life for this long restarts the connection (a backstop; missed heartbeat ACKs are caught sooner). */
  stallMs: number;
}

const defaultTimings: QqTimings = { helloTimeoutMs: 15_000, stallMs: 150_000 };

/** QQ answers a msg_id + msg_seq it has already taken with this code ("消息被去重"). */
const duplicateReply = 40054005;

/** What talking to QQ needs while the adapter runs; rebuilt on every start. */
interface Link {
  transport: Transport;
  tokens: AccessTokens;
  api: OpenApi;
  /** Aborted by stop(): calls made outside a send (the start-up profile read) end with it. */
  stopping: AbortController;
}

export class QqAdapter implements Adapter {
  readonly type = 'qq';
  readonly id: string;
  /**
   * QQ's send docs ("发送消息") give one rate: at most 5 messages per second in a guild text
   * channel. Its other numbers are quotas, not rates (5 passive replies per message in groups
   * and C2C, active messages per day or month), which pacing cannot help with.
   */
  readonly limits: SendLimits = { chat: { channel: { count: 5, perMs: 1000, burst: 5 } } };
  private readonly keys: WebhookKeys;
  private readonly passive = new PassiveReplies();
  private self: { id: string; username?: string } | undefined;
  private ctx: AdapterContext | undefined;
  private link: Link | undefined;
  private gateway: Gateway | undefined;
  private supervisor: Supervisor | undefined;
  private mounted = false;
  private warnedPublicUrl = false;

  constructor(
    private readonly config: QqConfig,
    private readonly timings: QqTimings = defaultTimings,
  ) {
    this.id = config.id;
    this.keys = deriveKeys(config.appSecret);
  }

  get selfId(): string | undefined {
    return this.self?.id;
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.ctx) return;
    this.ctx = ctx;
    // An attachment URL can be fetched from any instance: one that did not see the message can serve its media URL.
    ctx.media.fetcher(this.id, ({ ref, mime, name }) => fetchFile(ref, { mime, name, dispatcher: this.link?.transport.dispatcher, what: 'attachment' }));
    const { config } = this;
    const transport = createTransport(config.proxy);
    const tokens = accessTokens({ appId: config.appId, appSecret: config.appSecret, tokenUrl: config.tokenUrl, dispatcher: transport.dispatcher });
    const api = new OpenApi({ apiRoot: config.apiRoot, appId: config.appId, tokens, dispatcher: transport.dispatcher });
    const link: Link = { transport, tokens, api, stopping: new AbortController() };
    this.link = link;
    if (config.proxy) ctx.logger.info({ proxy: describeProxy(config.proxy) }, 'QQ traffic goes through a proxy');
    if (config.mode === 'webhook') return this.startWebhook(ctx, link);
    this.gateway = new Gateway({
      api,
      tokens,
      intents: config.intents,
      transport,
      logger: ctx.logger,
      helloTimeoutMs: this.timings.helloTimeoutMs,
      onEvent: async (payload, replayed) => (await this.dispatch(payload, replayed ? replayedEvent : liveEvent)) !== 'closed',
      onReady: (user) => (this.self = user),
      kept: new KeptResumePoint(ctx.store, `qq:${this.id}:gateway`, ctx.logger),
    });
    this.supervisor = ctx.supervise({ name: `qq:${this.id}:gateway`, stallMs: this.timings.stallMs, session: (controls) => this.gateway!.run(controls) });
    this.supervisor.start();
  }

  async stop(): Promise<void> {
    const { supervisor, link } = this;
    this.supervisor = undefined;
    this.ctx = undefined;
    this.link = undefined;
    link?.stopping.abort();
    await supervisor?.stop();
    // The session is left to be resumed by the next start: it replays what was not acknowledged.
    await this.gateway?.flush();
    this.gateway = undefined;
    await link?.transport.close();
  }

  async send(message: OutgoingMessage, options?: SendOptions): Promise<Delivery> {
    const { ids, done } = startDelivery();
    const scene = sceneOf(message.to.channelId);
    if (!scene) return done(`not a QQ channel id: "${message.to.channelId}"; expected group:<openid>, user:<openid>, channel:<id> or dm:<guild_id>`, fatal);
    const link = this.link;
    if (!link) return done('the QQ platform is not running', retryable);
    // A direct call has no stable key: one of its own still numbers its parts apart.
    const { key = randomUUID(), sent = 0, signal } = options ?? {};
    const endpoints = endpointsOf(scene);
    const guild = scene.kind === 'channel' || scene.kind === 'dm';
    // Groups and C2C cannot quote yet (QQ: message_reference "not supported"); the passive msg_id still ties the reply to the message.
    const quote = guild ? quotedMessageId(message.content, message.replyTo) : undefined;
    const msgId = this.passive.source(message.inResponseTo ?? message.replyTo, message.to.channelId, scene.kind);
    const seq = msgId !== undefined && numbered(scene.kind);
    try {
      const parts = plan(message.content, scene.kind);
      // One message at a time: a chat sees them in order. Parts an earlier try delivered are skipped.
      for (let part = sent; part < parts.length; part++) {
        if (part > sent && options && !(await options.pace())) return done('shutting down', retryable);
        const body = await this.bodyOf(parts[part]!, scene, link, signal);
        const passive = msgId === undefined ? {} : { msg_id: msgId, ...(seq ? { msg_seq: msgSeq(key, part) } : {}) };
        const reference = quote && part === 0 ? { message_reference: { message_id: quote, ignore_get_message_error: true } } : {};
        try {
          const answer = await link.api.call<{ id?: unknown }>('POST', endpoints.messages, { ...body, ...passive, ...reference }, { signal, idempotent: seq });
          if (answer.id !== undefined) ids.push(String(answer.id));
        } catch (error) {
          // QQ has this msg_id + msg_seq already: an earlier try delivered the part and its answer was lost.
          if (!(seq && error instanceof QqApiError && error.code === duplicateReply)) throw error;
          ids.push(''); // delivered, its id unknown: counted, so the next try goes on after it
        }
      }
      return done();
    } catch (error) {
      return done(errorMessage(error), classifyError(error));
    }
  }

  /** One planned item -> the body of a send call (uploading media first in groups and C2C). */
  private async bodyOf(item: Planned, scene: Scene, link: Link, signal: AbortSignal | undefined): Promise<Record<string, unknown>> {
    const guild = scene.kind === 'channel' || scene.kind === 'dm';
    if (item.kind === 'text') return guild ? { content: item.text } : { content: item.text, msg_type: 0 };
    const url = this.mediaUrl(item.media);
    if (item.kind === 'link') {
      const content = linkText(item.media, url, scene.kind);
      return guild ? { content } : { content, msg_type: 0 };
    }
    if (guild) return { image: url };
    // An upload shows nothing in the chat (srv_send_msg: false), so one made twice does no harm.
    const uploaded = await link.api.call<{ file_info?: unknown }>('POST', endpointsOf(scene).files!, { file_type: item.fileType, url, srv_send_msg: false }, { signal, idempotent: true });
    if (typeof uploaded.file_info !== 'string') throw new Error('QQ rich-media upload returned no file_info');
    // QQ wants some content beside media ("fill in a space", its docs say).
    return { content: ' ', msg_type: 7, media: { file_info: uploaded.file_info } };
  }

  /** QQ takes media only by URL: its own URL for media it sent us, a given URL, or bytes served from our media store. */
  private mediaUrl(media: MediaSegment): string {
    const ctx = this.ctx;
    if (media.url) {
      const origin = ctx?.media.origin(media.url);
      return origin?.botId === this.id ? origin.ref : media.url;
    }
    if (!media.data || !ctx) throw new Error(`${media.type} has neither url nor data`);
    if (!this.warnedPublicUrl && isLocal(ctx.publicUrl)) {
      this.warnedPublicUrl = true;
      ctx.logger.warn({ publicUrl: ctx.publicUrl }, 'QQ downloads media from server.publicUrl, which looks unreachable from the internet; set it to a public https address');
    }
    return ctx.media.register({ data: media.data, mime: media.mime ?? (media.type === 'image' ? 'image/png' : 'application/octet-stream'), name: media.name });
  }

  /** `replayable`: a gateway event, acknowledged once handled (or recorded); a resumed session sends it again until then. */
  private dispatch(payload: Payload, replayable?: { replayed: boolean }): Promise<Admission> {
    const ctx = this.ctx;
    if (!ctx) return Promise.resolve('closed');
    const event = incoming(payload);
    if (!event) return Promise.resolve('accepted'); // not a message the bot handles
    if (this.self && event.message.author?.id === this.self.id) return Promise.resolve('accepted'); // our own message (private bots see them)
    return ctx.dispatch({
      key: event.key,
      replayable,
      normalize: () => {
        const message = normalize(event, payload, {
          botId: this.id,
          selfId: this.self?.id,
          mediaUrl: ({ url, mime, name }) => ctx.media.registerFetched({ botId: this.id, ref: url, mime, name }),
        });
        this.passive.received(message.id, message.channel.id, event.scene.kind);
        return message;
      },
    });
  }

  private async startWebhook(ctx: AdapterContext, { api, stopping }: Link): Promise<void> {
    // Routes live as long as the server; a restarted adapter must not mount a second handler.
    if (!this.mounted)
      ctx.router.post('/', webhookHandler({ keys: this.keys, toleranceMs: this.config.webhookTolerance, context: () => this.ctx, onEvent: (payload) => this.dispatch(payload) }));
    this.mounted = true;
    ctx.logger.info({ path: `/webhooks/${this.id}` }, 'QQ webhook ready: set this URL (on your public https address) as the callback URL on q.qq.com');
    // Learns our guild user id (to strip "@bot" from guild messages) and checks the credentials early.
    const { signal } = stopping;
    retry(() => api.call<{ id?: unknown; username?: string }>('GET', '/users/@me', undefined, { signal }), { signal })
      .then((me) => {
        if (me.id !== undefined) this.self = { id: String(me.id), username: me.username };
      })
      .catch((error: unknown) => {
        if (!signal.aborted) ctx.logger.warn({ err: errorMessage(error) }, 'could not read the bot profile (GET /users/@me); check appId and appSecret if this persists');
      });
  }
}

const liveEvent = { replayed: false };
const replayedEvent = { replayed: true };

function isLocal(publicUrl: string): boolean {
  const host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|0\.)/.test(host);
}

export default defineAdapter({
  type: 'qq',
  configSchema: qqConfig,
  create: (config) => new QqAdapter(config),
});
