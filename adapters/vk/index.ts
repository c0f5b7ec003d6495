// VK communities over the Callback API, spoken directly: callbacks in at /webhooks/<id>, API
// methods out over undici (form POSTs), media through VK's upload servers.

import { randomUUID } from 'node:crypto';
import { defineAdapter, type Adapter, type AdapterContext, type Admission, type SendOptions, type Streaming } from '../../src/adapter.js';
import { idempotencyInt32 } from '../../src/delivery/idempotency.js';
import type { SendLimits } from '../../src/delivery/pacer.js';
import { classifyNetworkError, fatal, PlatformError, retryable, type Failure, type RetryPolicy } from '../../src/delivery/retry.js';
import { fetchFile } from '../../src/net/fetch-file.js';
import type { MediaBody } from '../../src/media/media.js';
import { quotedMessageId, startDelivery, type Delivery, type MediaSegment, type OutgoingMessage } from '../../src/message.js';
import { createTransport, describeProxy, type Transport } from '../../src/net/proxy.js';
import { errorMessage } from '../../src/inbound/supervisor.js';
import { apiVersion, VkApi, VkApiError, type Params } from './api.js';
import { channelId, chatPeerBase, messageOf, normalize, parseChannelId, type Callback } from './normalize.js';
import { plan, quoteParams, type PlannedMessage } from './render.js';
import { vkConfig, type Community, type VkConfig } from './schema.js';
import { registerCallbackServer } from './setup.js';
import { vkStreaming } from './stream.js';
import { uploadAttachment } from './upload.js';
import { Communities } from './verify.js';
import { webhookHandler } from './webhook.js';

/** Bytes of a photo or document fetched from VK (or a URL a bot names): bounded, as VK's own limits are generous. */
const vkFiles = { maxBytes: 50 * 1024 * 1024, timeoutMs: 30_000, what: 'file' };

/** 911: keyboard format invalid; 912: a chat-bot feature, and the community's bot abilities are off. */
const keyboardRefused = new Set([911, 912]);

export interface VkTimings {
  /** How long start waits for autoSetup; past it, setup goes on in the background and the other platforms start. */
  setupWaitMs?: number;
  /** How autoSetup's calls are tried again (the core's policy by default); sends follow the delivery policy. */
  setupRetry?: RetryPolicy;
}

/**
 * What a failed step of a send was: VK's calls and uploads say it themselves; fetchFile's errors
 * carry no kind, so only a request that never left is worth another try.
 */
function failureOf(error: unknown): Failure {
  return error instanceof PlatformError ? error.failure : classifyNetworkError(error, false);
}

/** What talking to VK needs while the adapter runs; rebuilt on every start. */
interface Link {
  transport: Transport;
  api: VkApi;
  /** Aborted on stop: API calls under way (autoSetup, sends past the drain) end. */
  stopped: AbortController;
}

export class VkAdapter implements Adapter {
  readonly type = 'vk';
  readonly id: string;
  /**
   * VK API: 20 requests a second with a community token (https://dev.vk.com/ru/api/api-requests,
   * "Ограничения и рекомендации"). One bucket for the platform, however many communities it
   * serves: the pacer keys limits by platform, so several communities share one token's budget.
   */
  readonly limits: SendLimits = { bot: { count: 20, perMs: 1000 } };
  /** A streamed answer: one message sent, then edited as it grows (adapters/vk/stream.ts). */
  readonly streaming: Streaming = vkStreaming({ api: () => this.link?.api, community: (groupId) => this.communities.get(groupId), send: (message) => this.send(message) });
  private readonly communities: Communities;
  /** Communities the operator was told VK refuses keyboards for. */
  private readonly keyboardWarned = new Set<number>();
  private ctx: AdapterContext | undefined;
  private link: Link | undefined;
  private mounted = false;
  private warnedVersion = false;

  constructor(
    private readonly config: VkConfig,
    private readonly timings: VkTimings = {},
  ) {
    this.id = config.id;
    this.communities = new Communities(config.communities);
  }

  /** The community's own id as a message author (negative, as VK writes it), when there is one community. */
  get selfId(): string | undefined {
    const [only, ...rest] = this.config.communities;
    return only && rest.length === 0 ? String(-only.groupId) : undefined;
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.ctx) return;
    this.ctx = ctx;
    // An attachment URL can be fetched from any instance: one that did not see the message can serve its media URL.
    ctx.media.fetcher(this.id, ({ ref, mime, name }) => fetchFile(ref, { mime, name, dispatcher: this.link?.transport.dispatcher, ...vkFiles }));
    const { config, timings } = this;
    const transport = createTransport(config.proxy);
    const stopped = new AbortController();
    const api = new VkApi({ apiRoot: config.apiRoot, dispatcher: transport.dispatcher, signal: stopped.signal });
    const link: Link = { transport, api, stopped };
    this.link = link;
    if (config.proxy) ctx.logger.info({ proxy: describeProxy(config.proxy) }, 'VK traffic goes through a proxy');
    // Routes live as long as the server; a restarted adapter must not mount a second handler.
    if (!this.mounted) ctx.router.post('/', webhookHandler({ communities: this.communities, context: () => this.ctx, onEvent: (callback, community) => this.onEvent(callback, community) }));
    this.mounted = true;
    const url = `${ctx.publicUrl}/webhooks/${this.id}`;
    ctx.logger.info({ path: `/webhooks/${this.id}`, communities: this.communities.all().map((c) => c.groupId) }, `VK Callback API ready: the server address is ${url}, API version ${apiVersion}`);
    const setUp = this.communities.all().filter((c) => c.autoSetup);
    if (setUp.length > 0 && /^https?:\/\/(localhost|127\.|\[::1\])/.test(ctx.publicUrl))
      ctx.logger.warn({ publicUrl: ctx.publicUrl }, 'VK autoSetup registers server.publicUrl, which looks unreachable from the internet; set it to a public https address');
    if (setUp.length > 0) await this.setUpAll(setUp, url, ctx, link);
  }

  /** One community after another (VK's rate limits); start waits for them only so long, as VK may hang and each call retries. */
  private async setUpAll(list: Community[], url: string, ctx: AdapterContext, link: Link): Promise<void> {
    const all = (async () => {
      for (const community of list) if (!link.stopped.signal.aborted) await this.setUp(community, url, ctx, link);
    })();
    let timer: NodeJS.Timeout | undefined;
    const waitMs = this.timings.setupWaitMs ?? 10_000;
    const finished = await Promise.race([all.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), waitMs)))]);
    clearTimeout(timer);
    if (!finished) ctx.logger.warn({ waitedMs: waitMs }, 'VK autoSetup is taking long; it goes on in the background (confirmation requests get 503 with Retry-After until VK gives the string)');
  }

  async stop(): Promise<void> {
    const link = this.link;
    this.ctx = undefined;
    this.link = undefined;
    link?.stopped.abort();
    await link?.transport.close();
  }

  /**
   * One try of an item, from the part `options.sent` on. Each part's random_id comes from the
   * item's key and the part's place, so a part VK took before its answer was lost, sent again on
   * a later try or after a restart, is answered with the first message's id and not shown twice.
   */
  async send(message: OutgoingMessage, options?: SendOptions): Promise<Delivery> {
    const { ids, done } = startDelivery();
    const target = parseChannelId(message.to.channelId);
    const community = target && this.communities.get(target.groupId);
    if (!target || !community) return done(`not a channel of this VK platform: "${message.to.channelId}"; expected <groupId>:<peer_id> with a configured groupId`, fatal);
    const { ctx, link } = this;
    if (!ctx || !link) return done('the VK platform is not running', retryable);
    const { peerId } = target;
    const signal = options?.signal;
    // A direct call has no earlier try to match: its random_ids are its own.
    const key = options?.key ?? randomUUID();
    const quote = quoteParams(quotedMessageId(message.content, message.replyTo), peerId);
    // A file VK will not take costs that file, not the rest of the reply: the text still goes, and the delivery names what failed.
    const refused: string[] = [];
    const planned = plan(message.content);
    const from = options?.sent ?? 0;
    try {
      for (let index = from; index < planned.length; index++) {
        if (index > from && options && !(await options.pace())) return done('shutting down', retryable);
        const item = planned[index]!;
        const attachments: string[] = [];
        for (const media of item.media) {
          try {
            attachments.push(await uploadAttachment(link.api, community.token, peerId, { ...(await this.bytesOf(media, ctx, link)), kind: media.type }, signal));
          } catch (error) {
            // Not refused, only failed this time: the part waits for the next try, with its file.
            if (failureOf(error).kind !== 'fatal') throw error;
            refused.push(errorMessage(error));
          }
        }
        // Only files, none uploaded: nothing to show, unless a keyboard needs a message to ride on.
        // (Such a part has no id, so a later try starts one part early: VK knows that part's random_id.)
        const text = item.text || (attachments.length === 0 && item.keyboard ? '\u2800' : '');
        if (!text && attachments.length === 0) continue;
        const params = { peer_id: peerId, random_id: idempotencyInt32(key, index), message: text || undefined, attachment: attachments.join(',') || undefined, keyboard: item.keyboard, ...(from === 0 && ids.length === 0 ? quote : {}) };
        ids.push(String(await this.sendOne(params, item, community, ctx, link, signal)));
      }
    } catch (error) {
      return done([...refused, errorMessage(error)].join('; '), failureOf(error));
    }
    return refused.length > 0 ? done(refused.join('; '), fatal) : done();
  }

  /** messages.send; a keyboard VK refuses (the community's bot abilities off) is sent again as numbered lines rather than lost. */
  private async sendOne(params: Params, item: PlannedMessage, community: Community, ctx: AdapterContext, link: Link, signal: AbortSignal | undefined): Promise<number> {
    try {
      return await link.api.call<number>('messages.send', community.token, params, signal);
    } catch (error) {
      if (!(error instanceof VkApiError && error.code !== undefined && keyboardRefused.has(error.code) && item.buttonsText)) throw error;
      if (!this.keyboardWarned.has(community.groupId))
        ctx.logger.warn({ groupId: community.groupId, err: error.message }, 'VK refused a keyboard; buttons are sent as numbered text. Turn on Manage > Messages > Bot settings > Bot abilities');
      this.keyboardWarned.add(community.groupId);
      // A refused send takes no random_id, so the same one goes with the buttons as text.
      const message = [params.message, item.buttonsText].filter((t) => t && t !== '\u2800').join('\n');
      return link.api.call<number>('messages.send', community.token, { ...params, message, keyboard: undefined }, signal);
    }
  }

  /** The bytes to upload: given, ours (a user's VK file is fetched lazily behind our media URL), or fetched from the bot's URL. */
  private async bytesOf(media: MediaSegment, ctx: AdapterContext, link: Link): Promise<MediaBody> {
    const fallbackMime = media.mime ?? (media.type === 'image' ? 'image/png' : 'application/octet-stream');
    if (media.data) return { data: media.data, mime: fallbackMime, name: media.name };
    if (!media.url) throw new Error(`${media.type} has neither url nor data`);
    const body = ctx.media.idOf(media.url) === undefined ? await fetchFile(media.url, { mime: fallbackMime, name: media.name, dispatcher: link.transport.dispatcher, ...vkFiles }) : await ctx.media.load(media.url);
    if (!body) throw new Error('the media URL has expired');
    return body;
  }

  private async onEvent(callback: Callback, community: Community): Promise<Admission> {
    const ctx = this.ctx;
    if (!ctx) return 'closed';
    if (callback.v !== undefined && callback.v !== apiVersion && !this.warnedVersion) {
      this.warnedVersion = true;
      ctx.logger.warn({ groupId: community.groupId, v: callback.v }, `VK sends callbacks in API version ${callback.v}; set ${apiVersion} on the Callback API page (or use autoSetup)`);
    }
    if (callback.type !== 'message_new') return this.emit(callback, community, ctx);
    const message = messageOf(callback);
    if (!message) return 'accepted'; // nothing we can read; "ok" so VK does not resend it forever
    return ctx.dispatch({
      key: callback.event_id,
      normalize: () =>
        normalize(message, callback, {
          botId: this.id,
          groupId: community.groupId,
          mediaUrl: ({ url, mime, name }) => ctx.media.registerFetched({ botId: this.id, ref: url, mime, name }),
        }),
    });
  }

  /** Other events (a button callback, a user allowing or denying messages) go to the bot's event handlers, once each (the core dedups on event_id). */
  private emit(callback: Callback, community: Community, ctx: AdapterContext): Promise<Admission> {
    const object = (callback.object ?? {}) as { peer_id?: unknown; user_id?: unknown };
    const peerId = typeof object.peer_id === 'number' ? object.peer_id : undefined;
    const userId = typeof object.user_id === 'number' ? object.user_id : undefined;
    return ctx.emit({
      id: callback.event_id ?? randomUUID(),
      platform: 'vk',
      botId: this.id,
      type: callback.type,
      ...(peerId !== undefined ? { channel: { id: channelId(community.groupId, peerId), type: peerId >= chatPeerBase ? 'group' : 'direct' } } : {}),
      ...(userId !== undefined ? { author: { id: String(userId), isBot: false } } : {}),
      data: callback.object,
      timestamp: Date.now(),
    }, callback.event_id);
  }

  private async setUp(community: Community, url: string, ctx: AdapterContext, link: Link): Promise<void> {
    try {
      const learnt = (code: string) => {
        if (community.confirmation !== undefined && community.confirmation !== code)
          ctx.logger.warn({ groupId: community.groupId }, 'the configured confirmation string differs from the one VK gives; answering with VK\'s');
        this.communities.setConfirmation(community.groupId, code);
      };
      const { serverId, created, status } = await registerCallbackServer(link.api, community, url, this.config.serverTitle, learnt, { policy: this.timings.setupRetry, signal: link.stopped.signal });
      if (status === 'failed')
        ctx.logger.error({ groupId: community.groupId, serverId, url, status }, 'VK could not confirm the callback server: VK must reach server.publicUrl from the internet over https; the next start tries again');
      else if (status !== 'ok') ctx.logger.warn({ groupId: community.groupId, serverId, url, status }, 'VK callback server added; VK has not confirmed it yet');
      else ctx.logger.info({ groupId: community.groupId, serverId, url }, created ? 'VK callback server registered' : 'VK callback server already registered; settings brought up to date');
    } catch (error) {
      if (link.stopped.signal.aborted) return void ctx.logger.debug({ groupId: community.groupId }, 'VK autoSetup abandoned: the platform stopped');
      ctx.logger.error({ groupId: community.groupId, err: errorMessage(error) }, 'VK autoSetup failed; set the callback server up on the Callback API page, or check that the token has the "manage" scope');
    }
  }
}

export default defineAdapter({
  type: 'vk',
  configSchema: vkConfig,
  create: (config) => new VkAdapter(config),
});
