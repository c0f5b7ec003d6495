// Tencent Cloud IM (Chat), spoken directly: every chat event of the app arrives at our callback
// URL; the bot answers through the REST API as `botAccount`, signed with the admin's UserSig.

import { defineAdapter, type Adapter, type AdapterContext, type Admission, type SendOptions, type Streaming } from '../../src/adapter.js';
import type { SendLimits } from '../../src/delivery/pacer.js';
import { classifyError, fatal, retryable } from '../../src/delivery/retry.js';
import { createDownloader } from '../../src/media/download.js';
import { startDelivery, type Delivery, type MediaSegment, type OutgoingMessage } from '../../src/message.js';
import { errorMessage } from '../../src/inbound/supervisor.js';
import { RestApi, sendOne } from './api.js';
import { platformEvent } from './events.js';
import { incoming, normalize, sceneOf, type MessageCallback, type NormalizeContext } from './normalize.js';
import { render } from './render.js';
import { timStreaming } from './stream.js';
import { tencentImConfig, type TencentImConfig } from './schema.js';
import { userSigs } from './usersig.js';
import { webhookHandler } from './webhook.js';

export interface TencentImTimings {
  /** Lifetime of each admin UserSig. */
  userSigTtlMs: number;
}

const defaultTimings: TencentImTimings = { userSigTtlMs: 86_400_000 };

/** Users' files named in callbacks: fetched (when someone asks) within these bounds. */
const userFiles = { maxBytes: 20 * 1024 * 1024, timeoutMs: 15_000 };

export class TencentImAdapter implements Adapter {
  readonly type = 'tencent-im';
  readonly id: string;
  readonly selfId: string;
  /**
   * Tencent's "关于即时通信 IM 服务端 API 调频收费的公告" (server API frequency notice) gives
   * openim/sendmsg and group_open_http_svc/send_group_msg 200 calls a second each per app by
   * default (one bucket for both keeps under either); its "使用限制" (Use Limits) page allows
   * 40 messages a second in any one group.
   */
  readonly limits: SendLimits = { bot: { count: 200, perMs: 1000 }, chat: { group: { count: 40, perMs: 1000 } } };
  /** A streamed answer: one message sent, then modified as it grows (adapters/tencent-im/stream.ts). */
  readonly streaming: Streaming;
  private ctx: AdapterContext | undefined;
  private api: RestApi | undefined;
  private mounted = false;

  constructor(
    private readonly config: TencentImConfig,
    private readonly timings: TencentImTimings = defaultTimings,
  ) {
    this.id = config.id;
    this.selfId = config.botAccount;
    this.streaming = timStreaming({ api: () => this.api, botAccount: config.botAccount, mediaUrl: (media) => this.mediaUrl(media, this.ctx!), send: (message) => this.send(message) });
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.ctx) return;
    this.ctx = ctx;
    // A URL in a callback is only as trustworthy as the callback (without a callbackToken, anyone
    // can post one): like ctx.download, never fetch from loopback or private networks unless allowed.
    // Any instance fetches it the same way: one that did not see the callback can serve its media URL.
    const download = createDownloader(ctx.media, { allowPrivateNetworks: this.config.allowPrivateNetworks, ...userFiles });
    ctx.media.fetcher(this.id, ({ ref, mime, name }) => download({ type: 'file', url: ref, mime, name }));
    const { config } = this;
    const sigs = userSigs({ sdkAppId: config.sdkAppId, secretKey: config.secretKey, identifier: config.adminIdentifier, ttlMs: this.timings.userSigTtlMs });
    this.api = new RestApi({ apiRoot: config.apiRoot, sdkAppId: config.sdkAppId, identifier: config.adminIdentifier, userSigs: sigs });
    // Routes live as long as the server; a restarted adapter must not mount a second handler.
    if (!this.mounted)
      ctx.router.post('/', webhookHandler({
        sdkAppId: config.sdkAppId,
        token: config.callbackToken,
        toleranceMs: config.callbackTolerance,
        context: () => this.ctx,
        intercept: (c) => ({ normalize: this.normalizeContext(c), mediaUrl: (m) => this.mediaUrl(m, c), timeoutMs: config.interceptTimeout }),
        onMessage: (command, body) => this.onMessage(command, body),
        onEvent: async (command, body) => (await this.ctx?.emit(platformEvent(command, body, this.id))) ?? 'closed',
      }));
    this.mounted = true;
    if (!config.callbackToken) ctx.logger.warn('no callbackToken: callbacks are checked by SdkAppid only; turn on callback authentication in the IM console and set callbackToken');
    ctx.logger.info({ path: `/webhooks/${this.id}` }, 'Tencent IM callback ready: set this URL (on your public https address) as the callback URL in the IM console');
  }

  async stop(): Promise<void> {
    this.ctx = undefined;
    this.api = undefined;
  }

  async send(message: OutgoingMessage, options?: SendOptions): Promise<Delivery> {
    const { ids, done } = startDelivery();
    const scene = sceneOf(message.to.channelId);
    if (!scene) return done(`not a Tencent IM channel id: "${message.to.channelId}"; expected user:<UserID> or group:<GroupId>`, fatal);
    const { api, ctx } = this;
    if (!api || !ctx) return done('the Tencent IM platform is not running', retryable);
    const { sent = 0, signal } = options ?? {};
    try {
      // One message at a time, so the chat sees them in order; parts an earlier try delivered are skipped.
      for (const [n, { body, at }] of render(message.content, (m) => this.mediaUrl(m, ctx)).slice(sent).entries()) {
        if (n > 0 && options && !(await options.pace())) return done('shutting down', retryable);
        ids.push(await sendOne(api, this.config.botAccount, scene, body, at, signal)); // one entry per part, so a retry goes on after it
      }
      return done();
    } catch (error) {
      return done(errorMessage(error), classifyError(error));
    }
  }

  private async onMessage(command: string, body: MessageCallback): Promise<Admission | undefined> {
    const ctx = this.ctx;
    if (!ctx) return 'closed';
    const event = incoming(command, body, { account: this.config.botAccount, groupMessages: this.config.groupMessages });
    if (!event) return undefined;
    return ctx.dispatch({ key: event.key, normalize: () => normalize({ id: event.key, scene: event.scene, mentionsBot: event.mentionsBot, stripMention: true }, body, this.normalizeContext(ctx)) });
  }

  private normalizeContext(ctx: AdapterContext): NormalizeContext {
    return {
      botId: this.id,
      botAccount: this.config.botAccount,
      mediaUrl: ({ url, mime, name }) => ctx.media.registerFetched({ botId: this.id, ref: url, mime, name }),
    };
  }

  /** Tencent takes media by URL: its own URL for media it sent us, a given URL, or bytes served from our media store. */
  private mediaUrl(media: MediaSegment, ctx: AdapterContext): string {
    if (media.url) {
      const origin = ctx.media.origin(media.url);
      return origin?.botId === this.id ? origin.ref : media.url;
    }
    if (!media.data) throw new Error(`${media.type} has neither url nor data`);
    return ctx.media.register({ data: media.data, mime: media.mime ?? (media.type === 'image' ? 'image/png' : 'application/octet-stream'), ...(media.name ? { name: media.name } : {}) });
  }
}

export default defineAdapter({
  type: 'tencent-im',
  configSchema: tencentImConfig,
  create: (config) => new TencentImAdapter(config),
});
