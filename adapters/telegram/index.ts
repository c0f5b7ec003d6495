// Telegram through node-telegram-bot-api 2: long polling or webhook in, the Bot API out.

import { Api, InputFile, TelegramApiError, type Update } from 'node-telegram-bot-api';
import { defineAdapter, type Adapter, type AdapterContext, type Admission, type SendOptions, type Streaming } from '../../src/adapter.js';
import { authenticated, HttpError, readJson, unavailable } from '../../src/inbound/http.js';
import type { SendLimits } from '../../src/delivery/pacer.js';
import { retryable } from '../../src/delivery/retry.js';
import { createTransport, describeProxy, lightFetch, type Transport } from '../../src/net/proxy.js';
import { undici } from '../../src/net/undici.js';
import type { MediaBody } from '../../src/media/media.js';
import { startDelivery, type ChannelRef, type Delivery, type MediaSegment, type OutgoingMessage } from '../../src/message.js';
import { errorMessage, FatalConnectionError, LeaseLostError, type SessionControls, type Supervisor } from '../../src/inbound/supervisor.js';
import type { Fence } from '../../src/store/index.js';
import { classify, describe } from './errors.js';
import { JsonBotApi } from './api.js';
import { incoming, normalize, type Self } from './normalize.js';
import { plan, quotedId, splitChannel, type Planned } from './render.js';
import { telegramStreaming } from './stream.js';
import { telegramConfig, type TelegramConfig } from './schema.js';
import { verifySecretToken } from './verify.js';

const { request } = undici();

/**
 * Telegram's FAQ (https://core.telegram.org/bots/faq, "My bot is hitting limits, how do I avoid
 * this?"): about 30 messages a second overall, about one a second in one chat (short bursts are
 * tolerated), and no more than 20 a minute in one group.
 */
const perGroup = { count: 20, perMs: 60_000, burst: 3 };
/**
 * How long a saved polling offset is trusted. Telegram keeps unconfirmed updates for 24 hours, and
 * confirms everything below the offset of each getUpdates itself, so a newer instance that finds
 * no offset loses nothing; an old one could skip the updates of a bot whose ids started over.
 */
const offsetTtlMs = 24 * 3_600_000;

const limits: SendLimits = {
  bot: { count: 30, perMs: 1000 },
  // A forum topic ("thread") is part of a group; a channel is held to a group's limit too.
  chat: { default: { count: 1, perMs: 1000, burst: 3 }, group: perGroup, thread: perGroup, channel: perGroup },
};

export class TelegramAdapter implements Adapter {
  readonly type = 'telegram';
  readonly id: string;
  readonly limits = limits;
  readonly streaming: Streaming;
  /** Each call made once: the core retries sends (Telegram takes no idempotency key, so a send whose answer was lost may be doubled). */
  private readonly api: Api;
  /** A reply's text messages: one JSON call each, the hot path (api.ts). */
  private readonly replies: JsonBotApi;
  /** getUpdates gets its own client without transport retries: the supervisor owns retrying the poll. */
  private readonly pollApi: Api;
  private self: Self = { id: '' };
  private ctx: AdapterContext | undefined;
  private poller: Supervisor | undefined;
  /** Next update_id to ask for; kept across reconnects so nothing is fetched twice. */
  private offset: number | undefined;
  private mounted = false;
  private readonly transport: Transport;

  constructor(private readonly config: TelegramConfig) {
    this.id = config.id;
    this.transport = createTransport(config.proxy);
    // A call's 60 s bound is the fetch's, not the library's (which would make a timer and a signal per call).
    this.api = new Api(config.token, { apiRoot: config.apiRoot, maxRetries: 0, timeoutMs: 0, fetch: lightFetch(this.transport, { timeoutMs: 60_000 }) });
    this.pollApi = new Api(config.token, { apiRoot: config.apiRoot, maxRetries: 0, fetch: lightFetch(this.transport) });
    this.replies = new JsonBotApi(config.apiRoot, config.token, this.transport.dispatcher, 60_000);
    this.streaming = telegramStreaming(this.api, this);
  }

  get selfId(): string | undefined {
    return this.self.id || undefined;
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.ctx) return;
    this.ctx = ctx;
    // A file_id works from any instance: one that did not see the update can still fetch the file.
    ctx.media.fetcher(this.id, (origin) => this.download(origin.ref, origin.mime ?? 'application/octet-stream', origin.name));
    if (this.config.proxy) ctx.logger.info({ proxy: describeProxy(this.config.proxy) }, 'Telegram traffic goes through a proxy');
    if (this.config.mode === 'webhook') return this.startWebhook(ctx);
    this.poller = ctx.supervise({
      name: `telegram:${this.id}:polling`,
      stallMs: this.config.pollTimeout * 1000 + this.config.stallGrace,
      session: (controls) => this.poll(controls),
    });
    this.poller.start();
  }

  async stop(): Promise<void> {
    const poller = this.poller;
    this.poller = undefined;
    this.ctx = undefined;
    await poller?.stop();
  }

  async send(message: OutgoingMessage, options?: SendOptions): Promise<Delivery> {
    return this.sendPlanned(plan(message.content), message.to, quotedId(message.content, message.replyTo), options);
  }

  /** Planned messages to `to` in order, the first quoting `replyTo`; the core paced the first (after the `sent` skipped), each further one waits for its slot. */
  async sendPlanned(items: readonly Planned[], to: ChannelRef, replyTo: number | undefined, options?: Pick<SendOptions, 'sent' | 'signal' | 'pace'>): Promise<Delivery> {
    const { ids, done } = startDelivery();
    const [chatId, threadId] = splitChannel(to.channelId);
    const signal = options?.signal;
    try {
      for (const [index, item] of items.entries()) {
        if (index < (options?.sent ?? 0)) continue; // delivered by an earlier try
        if (index > (options?.sent ?? 0) && options && !(await options.pace())) return done('shutting down', retryable);
        const common = {
          chat_id: chatId,
          message_thread_id: threadId,
          // Only the first message of a reply quotes.
          reply_parameters: index === 0 && replyTo !== undefined ? { message_id: replyTo, allow_sending_without_reply: true } : undefined,
          reply_markup: item.keyboard,
        };
        // A text send is short and left to finish at shutdown (the library would tie a signal to every
        // call, on the hot path); an upload, which can take long, is cut short.
        const sent = item.kind === 'text' ? await this.replies.sendMessage({ ...common, text: item.html, parse_mode: 'HTML' }) : await this.sendMedia(item, common, signal);
        ids.push(String(sent.message_id));
      }
      return done();
    } catch (error) {
      return done(describe(error), classify(error));
    }
  }

  private async sendMedia(item: Extract<Planned, { kind: 'media' }>, common: { chat_id: string }, signal: AbortSignal | undefined) {
    const { media } = item;
    const file = await this.upload(media);
    switch (media.type) {
      case 'image':
        return this.api.sendPhoto({ ...common, photo: file }, signal);
      case 'audio':
        return this.api.sendAudio({ ...common, audio: file }, signal);
      case 'video':
        return this.api.sendVideo({ ...common, video: file }, signal);
      default:
        return this.api.sendDocument({ ...common, document: file }, signal);
    }
  }

  /** A file_id when the media came from this bot, a URL Telegram can fetch itself, otherwise the bytes. */
  private async upload(media: MediaSegment): Promise<InputFile | string> {
    const ctx = this.ctx;
    if (media.url && ctx) {
      const origin = await ctx.media.originOf(media.url);
      if (origin?.botId === this.id) return origin.ref;
      if (ctx.media.idOf(media.url) !== undefined) {
        const body = await ctx.media.load(media.url);
        if (!body) throw new Error('media URL has expired');
        return new InputFile(body.data, { filename: media.name ?? body.name ?? defaultName(media), contentType: body.mime });
      }
    }
    if (media.data) return new InputFile(media.data, { filename: media.name ?? defaultName(media), contentType: media.mime });
    if (media.url) return media.url;
    throw new Error(`${media.type} has neither url nor data`);
  }

  private async poll({ signal, alive, fence }: SessionControls): Promise<void> {
    const ctx = this.ctx!;
    await this.identify(signal);
    // Another instance may have polled since this one last did: go on from where it got.
    const saved = await ctx.store.get<number>(this.offsetKey());
    if (saved !== undefined && (this.offset === undefined || saved > this.offset)) this.offset = saved;
    // A webhook left registered makes getUpdates fail with 409; polling means we own delivery now.
    await this.pollApi.deleteWebhook({ drop_pending_updates: false }, signal);
    // Only an answered getUpdates counts as alive: a server that takes setup calls but fails polls must keep backing off.
    // The first poll answers at once, so a healthy connection shows as up without waiting out a long poll.
    ctx.logger.debug({ username: this.self.username }, 'polling for updates');
    let timeout = 0;
    while (!signal.aborted) {
      let updates: Update[];
      try {
        updates = await this.pollApi.getUpdates({ offset: this.offset, timeout, limit: 100, allowed_updates: this.config.allowedUpdates }, signal);
        timeout = this.config.pollTimeout;
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof TelegramApiError && error.errorCode === 409)
          throw new Error('409 Conflict: another process is polling with this bot token (or a webhook is set); only one poller per token can run');
        throw error;
      }
      // All of the batch is handed over at once (the store records it in one commit), then the
      // offset moves past the updates recorded, in order. One that was not ('closed': shutting
      // down, or the store failed) and everything after it stay unconfirmed: Telegram sends them
      // again, after a backoff that grows while the store keeps failing.
      const admissions = updates.map((update) => this.dispatch(ctx, update));
      for (const [i, update] of updates.entries()) {
        if ((await admissions[i]) === 'closed') {
          if (signal.aborted) return;
          throw new Error('could not record an update (the store failed?); polling again after a pause, from the first update not recorded');
        }
        this.offset = update.update_id + 1;
      }
      if (updates.length > 0) await this.saveOffset(ctx, fence);
      alive();
    }
  }

  private offsetKey(): string {
    return `telegram:${this.self.id}:offset`;
  }

  /** For whichever instance polls next; refused when another instance has taken polling over since this session's lease. */
  private async saveOffset(ctx: AdapterContext, fence: Fence | undefined): Promise<void> {
    if (!fence) return ctx.store.set(this.offsetKey(), this.offset, offsetTtlMs);
    if (!(await ctx.store.leases.setFenced(fence, this.offsetKey(), this.offset, offsetTtlMs))) throw new LeaseLostError('another instance polls now (its offset is newer)');
  }

  private async identify(signal?: AbortSignal): Promise<void> {
    if (this.self.id) return;
    try {
      const me = await this.pollApi.getMe(signal);
      this.self = { id: String(me.id), username: me.username };
    } catch (error) {
      if (error instanceof TelegramApiError && (error.errorCode === 401 || error.errorCode === 404))
        throw new FatalConnectionError(`Telegram rejected the bot token (${error.errorCode}); check platforms[].token`);
      throw error;
    }
  }

  private dispatch(ctx: AdapterContext, update: Update): Promise<Admission> {
    let source: ReturnType<typeof incoming>;
    try {
      source = incoming(update);
    } catch (error) {
      // An update of a shape we cannot read (`"callback_query": null`) fails the same way every
      // time: logged and consumed, or Telegram would send it again forever (and polling stall on it).
      ctx.logger.error({ updateId: update.update_id, err: error }, 'could not read a Telegram update; skipped');
      return Promise.resolve('accepted');
    }
    if (!source) return Promise.resolve('accepted');
    if ('callback' in source) void this.api.answerCallbackQuery({ callback_query_id: source.callback.id }).catch(() => {});
    return ctx.dispatch({
      key: String(update.update_id),
      normalize: () => normalize(update, this.id, this.self, (fileId, mime, name) => ctx.media.registerFetched({ botId: this.id, ref: fileId, mime, name }))!,
    });
  }

  private async startWebhook(ctx: AdapterContext): Promise<void> {
    const secret = this.config.secretToken!;
    // Routes live as long as the server; a restarted adapter must not mount a second handler.
    if (!this.mounted) ctx.router.post('/', async (request) => {
      const ctx = this.ctx;
      if (!ctx) throw unavailable('this platform is stopped');
      if (!verifySecretToken(request.header('x-telegram-bot-api-secret-token'), secret)) throw new HttpError(401, 'wrong or missing X-Telegram-Bot-Api-Secret-Token');
      authenticated(request, { logger: ctx.logger, ack: delivered });
      const update = await readJson(request.raw, ctx.bodyLimit);
      if (!isUpdate(update)) throw new HttpError(400, 'not a Telegram update: update_id (integer) is required');
      if ((await this.dispatch(ctx, update)) === 'closed') throw unavailable('cannot take updates now');
      return delivered;
    });
    this.mounted = true;
    this.identify().catch((error: unknown) => ctx.logger.warn({ err: errorMessage(error) }, 'getMe failed; @mentions of the bot are not recognized until it succeeds'));
    if (this.config.publicUrl) {
      const url = `${this.config.publicUrl.replace(/\/+$/, '')}/webhooks/${this.id}`;
      await this.api.setWebhook({ url, secret_token: secret, allowed_updates: this.config.allowedUpdates });
      ctx.logger.info({ url }, 'webhook registered');
    } else {
      ctx.logger.info({ path: `/webhooks/${this.id}` }, 'webhook mode: set publicUrl to register the webhook, or register this path yourself');
    }
  }

  /** Fetches a file's bytes: getFile, then the file endpoint (whose URL carries the token, so it never leaves this adapter). */
  private async download(fileId: string, mime: string, name?: string): Promise<MediaBody> {
    if (this.self.id === '') await this.identify();
    const file = await this.api.getFile({ file_id: fileId });
    if (!file.file_path) throw new Error('Telegram returned no file_path (file too large for the Bot API?)');
    const response = await request(`${this.config.apiRoot.replace(/\/+$/, '')}/file/bot${this.config.token}/${file.file_path}`, { dispatcher: this.transport.dispatcher });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new Error(`file download failed with HTTP ${response.statusCode}`);
    }
    return { data: new Uint8Array(await response.body.arrayBuffer()), mime, name: name ?? file.file_path.split('/').pop() };
  }
}

/** What Telegram counts as delivered: any 200. */
const delivered = { body: '' };

function isUpdate(value: unknown): value is Update {
  return typeof value === 'object' && value !== null && Number.isSafeInteger((value as { update_id?: unknown }).update_id);
}

function defaultName(media: MediaSegment): string {
  return media.type === 'image' ? 'image.jpg' : media.type;
}

export default defineAdapter({
  type: 'telegram',
  configSchema: telegramConfig,
  create: (config) => new TelegramAdapter(config),
});
