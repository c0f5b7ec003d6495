// Discord through discord.js 14: the gateway in (a supervised client per shard), the REST API out.

import { randomBytes } from 'node:crypto';
import type { APIAllowedMentions, APIEmbed, APIMessage, APIMessageComponentInteraction, Client, GatewayDispatchPayload, GatewayMessageCreateDispatchData, RawFile, RESTOptions } from 'discord.js';
import { InteractionResponseType, InteractionType, REST, Routes } from './sdk.js';
import { defineAdapter, type Adapter, type AdapterContext, type Admission, type InboundEvent, type SendOptions, type Streaming } from '../../src/adapter.js';
import { idempotencyKey } from '../../src/delivery/idempotency.js';
import type { SendLimits } from '../../src/delivery/pacer.js';
import { fatal, retry, retryable, type RetryPolicy } from '../../src/delivery/retry.js';
import { fetchFile } from '../../src/net/fetch-file.js';
import { startDelivery, type ChannelType, type Delivery, type OutgoingMessage } from '../../src/message.js';
import { createTransport, describeProxy, type Transport } from '../../src/net/proxy.js';
import type { Supervisor } from '../../src/inbound/supervisor.js';
import { attachmentLimit, outgoing } from './attachments.js';
import { GatewayBridge } from './bridge.js';
import { classify, describe } from './errors.js';
import { normalizeClick, normalizeMessage, type NormalizeContext } from './normalize.js';
import { plan, quotedId, type Planned } from './render.js';
import { discordStreaming } from './stream.js';
import { restOptions, sendingOptions } from './rest.js';
import { identifyThrottler } from './identify.js';
import { GatewaySessions } from './resume.js';
import { discordConfig, type DiscordConfig } from './schema.js';
import { runSession } from './session.js';
import { recommendedShards } from './shards.js';

export interface DiscordTimings {
  /** How long one login may take to reach READY. */
  readyTimeoutMs: number;
  /** No gateway activity for this long restarts the client. */
  stallMs: number;
  livenessPollMs: number;
  maxReconnects: number;
}

/** What talking to Discord needs while the adapter runs; rebuilt on every start. */
interface Link {
  transport: Transport;
  rest: REST;
  bridge: GatewayBridge | undefined;
}

/**
 * Discord's rate limits (https://discord.com/developers/docs/topics/rate-limits): 50 requests a
 * second per bot, globally; per route the limit is what the X-RateLimit-* headers say, and for
 * messages in one channel they say 5 per 5 s. The REST client also paces itself by those headers.
 */
const limits: SendLimits = {
  bot: { count: 50, perMs: 1000 },
  chat: { count: 5, perMs: 5000, burst: 5 },
};

/** Discord wants an answer to a button click within 3 s: a short policy of its own. */
const acknowledgePolicy: RetryPolicy = { attempts: 3, initialDelayMs: 100, maxDelayMs: 500, maxRetryAfterMs: 1000 };

export class DiscordAdapter implements Adapter {
  readonly type = 'discord';
  readonly id: string;
  readonly limits = limits;
  readonly streaming: Streaming = discordStreaming(this);
  private readonly timings: DiscordTimings;
  private self: string | undefined;
  private ctx: AdapterContext | undefined;
  /** What normalizing an event needs, made for the context of the running start. */
  private context: { for: AdapterContext; value: NormalizeContext } | undefined;
  private link: Link | undefined;
  /** The client of each shard this instance runs now. */
  private readonly clients = new Map<number, Client>();
  private supervisors: Supervisor[] = [];
  /** Sends under way: stop() lets them finish (a 429 wait, say) before it closes the proxy under them. */
  private readonly sending = new Set<Promise<Delivery>>();

  constructor(
    private readonly config: DiscordConfig,
    timings: Partial<DiscordTimings> = {},
  ) {
    this.id = config.id;
    this.timings = { readyTimeoutMs: config.readyTimeout, stallMs: config.stallTimeout, livenessPollMs: 5000, maxReconnects: 5, ...timings };
  }

  get selfId(): string | undefined {
    return this.self;
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.ctx) return;
    this.ctx = ctx;
    // An attachment URL can be fetched from any instance: one that did not see the message can serve its media URL.
    ctx.media.fetcher(this.id, ({ ref, mime, name }) => fetchFile(ref, { mime, name, dispatcher: this.link?.transport.dispatcher, ...attachmentLimit }));
    const { config } = this;
    const transport = createTransport(config.proxy);
    const options = restOptions(config.apiRoot, transport);
    const rest = new REST(sendingOptions(options)).setToken(config.token);
    const bridge = config.proxy ? await GatewayBridge.open(transport, ctx.logger, options.makeRequest) : undefined;
    this.link = { transport, rest, bridge };
    if (config.proxy) ctx.logger.info({ proxy: describeProxy(config.proxy) }, 'Discord traffic goes through a proxy');
    try {
      const count = config.shardCount === 'auto' ? await recommendedShards(rest, ctx.logger) : config.shardCount;
      const gatewayRest = bridge ? { ...options, makeRequest: bridge.makeRequest } : options;
      for (let id = 0; id < count; id++) this.supervisors.push(this.superviseShard(ctx, { id, count }, gatewayRest));
    } catch (error) {
      await this.stop();
      throw error;
    }
    for (const supervisor of this.supervisors) supervisor.start();
  }

  /** One shard's connection: its own supervised session, so that the shards of a bot can run on different instances. */
  private superviseShard(ctx: AdapterContext, shard: { id: number; count: number }, rest: Partial<RESTOptions>): Supervisor {
    const { config, timings } = this;
    const logger = ctx.logger.child({ shard: shard.id });
    const sessions = new GatewaySessions(ctx.store, `discord:${this.id}:gateway:${shard.id}`, logger, { key: `discord:${this.id}:gateway`, shardId: shard.id });
    const throttle = (maxConcurrency: number) => identifyThrottler({ store: ctx.store, prefix: `discord:${this.id}:identify`, maxConcurrency, windowMs: config.identifyInterval, logger });
    return ctx.supervise({
      name: `discord:${this.id}:shard:${shard.id}`,
      stallMs: timings.stallMs,
      session: async (controls) => {
        // Read at every connection: another instance may have held the shard since.
        await sessions.load(controls.fence);
        this.self ??= sessions.userId;
        return runSession(
          {
            token: config.token,
            intents: config.intents,
            rest,
            logger,
            readyTimeoutMs: timings.readyTimeoutMs,
            livenessPollMs: timings.livenessPollMs,
            maxReconnects: timings.maxReconnects,
            shard,
            identifyThrottler: throttle,
            sessions,
            onClient: (client) => (client ? this.clients.set(shard.id, client) : this.clients.delete(shard.id)),
            onDispatch: (packet, replayed) => this.onDispatch(packet, replayed),
          },
          controls,
        );
      },
    });
  }

  async stop(): Promise<void> {
    const { supervisors, link } = this;
    this.supervisors = [];
    this.ctx = undefined;
    this.link = undefined;
    await Promise.all(supervisors.map((supervisor) => supervisor.stop()));
    await settledWithin([...this.sending], sendDrainMs);
    // A REST instance sweeps its buckets on two intervals of its own; left running, every restart would keep one alive.
    link?.rest.clearHashSweeper();
    link?.rest.clearHandlerSweeper();
    await link?.bridge?.close();
    await link?.transport.close();
  }

  send(message: OutgoingMessage, options?: SendOptions): Promise<Delivery> {
    const sending = this.deliver(message, options);
    this.sending.add(sending);
    void sending.finally(() => this.sending.delete(sending));
    return sending;
  }

  private deliver(message: OutgoingMessage, options: SendOptions | undefined): Promise<Delivery> {
    const { messages, allowedMentions } = plan(message.content);
    return this.postPlanned(messages, allowedMentions, message.to.channelId, quotedId(message.content, message.replyTo), options);
  }

  /** Planned messages to a channel in order, the first quoting `quote`; the core paced the first (after the `sent` skipped), each further one waits for its slot. */
  async postPlanned(messages: readonly Planned[], allowedMentions: APIAllowedMentions, channelId: string, quote: string | undefined, options: SendOptions | undefined): Promise<Delivery> {
    const { ids, done } = startDelivery();
    const link = this.link;
    if (!link) return done('the Discord platform is not running', retryable);
    if (!/^\d+$/.test(channelId)) return done(`not a Discord channel id: "${channelId}"; expected a numeric snowflake`, fatal);
    try {
      // One message at a time: the chat sees them in order, and discord.js's per-route rate-limit
      // queue sees one request at a time from us.
      for (const [index, item] of messages.entries()) {
        if (index < (options?.sent ?? 0)) continue; // delivered by an earlier try
        if (index > (options?.sent ?? 0) && options && !(await options.pace())) return done('shutting down', retryable);
        const { body: rendered, files } = await this.render(item, allowedMentions);
        const body = {
          ...rendered,
          // The same part gets the same nonce on every try, after a restart too: when Discord
          // stored a message whose answer was lost, the retry gets that message back, not a second one.
          nonce: options ? idempotencyKey(options.key, index) : randomBytes(12).toString('base64url'),
          enforce_nonce: true,
          // Only the first message of a reply quotes.
          ...(index === 0 && quote ? { message_reference: { message_id: quote, fail_if_not_exists: false } } : {}),
        };
        const sent = (await link.rest.post(Routes.channelMessages(channelId), { body, files: files.length ? files : undefined, signal: options?.signal })) as APIMessage;
        ids.push(sent.id);
      }
      return done();
    } catch (error) {
      return done(describe(error), classify(error));
    }
  }

  /** One planned message as a message body (content, embeds, components, attachments) and the files it uploads. */
  async render(item: Planned, allowedMentions: APIAllowedMentions): Promise<{ body: Record<string, unknown>; files: RawFile[] }> {
    const files: RawFile[] = [];
    const embeds: APIEmbed[] = [];
    let content = item.content;
    for (const media of item.media) {
      const out = await outgoing(media, this.ctx?.media);
      if (out.kind === 'file') files.push(out.file);
      else if (out.kind === 'embed') embeds.push({ image: { url: out.url } });
      else content += `${content ? '\n' : ''}${out.text}`;
    }
    const body = {
      ...(content ? { content } : {}),
      ...(embeds.length ? { embeds } : {}),
      ...(item.components.length ? { components: item.components } : {}),
      ...(files.length ? { attachments: files.map((file, id) => ({ id, filename: file.name })) } : {}),
      allowed_mentions: allowedMentions,
    };
    return { body, files };
  }

  /** The REST client while the adapter runs. */
  get rest(): REST | undefined {
    return this.link?.rest;
  }

  /** Hands a message or a button click to the core, in the order the gateway sent them; the admission tells the session what is recorded. */
  private onDispatch(packet: GatewayDispatchPayload, replayed: boolean): Promise<Admission> | undefined {
    switch (packet.t) {
      case 'READY':
        this.self = packet.d.user.id;
        return undefined;
      case 'MESSAGE_CREATE':
        if (packet.d.author.id === this.self) return undefined; // our own replies come back as events too
        return this.admit(packet.d.id, normalizeMessage, packet.d as GatewayMessageCreateDispatchData, replayed);
      case 'INTERACTION_CREATE': {
        const interaction = packet.d;
        if (interaction.type !== InteractionType.MessageComponent) return undefined;
        this.acknowledge(interaction);
        return this.admit(interaction.id, normalizeClick, interaction, replayed);
      }
      default:
        return undefined;
    }
  }

  /** A deferred update within Discord's 3 s, so the user sees no "interaction failed"; the answer comes as a message. */
  private acknowledge(interaction: APIMessageComponentInteraction): void {
    const rest = this.link?.rest;
    if (!rest) return;
    const post = () => rest.post(Routes.interactionCallback(interaction.id, interaction.token), { body: { type: InteractionResponseType.DeferredMessageUpdate }, auth: false });
    retry(post, { policy: acknowledgePolicy, classify }).catch((error: unknown) => this.ctx?.logger.warn({ err: describe(error) }, 'could not acknowledge a button click'));
  }

  /** Replayable: the session is acknowledged only up to events handled or recorded, and a resume sends the rest again. */
  private admit<D>(key: string, normalize: (data: D, ctx: NormalizeContext) => ReturnType<InboundEvent['normalize']>, data: D, replayed: boolean): Promise<Admission> {
    const ctx = this.ctx;
    if (!ctx) return Promise.resolve('closed');
    const context = this.normalizeContext(ctx);
    return ctx.dispatch({ key, normalize: () => normalize(data, context), replayable: replayed ? replayedEvent : liveEvent });
  }

  /** One per start, not one per event: selfId is read as each event is normalized. */
  private normalizeContext(ctx: AdapterContext): NormalizeContext {
    if (this.context?.for === ctx) return this.context.value;
    const self = () => this.self;
    const value: NormalizeContext = {
      botId: this.id,
      get selfId() {
        return self();
      },
      channelKind: (id) => this.channelKind(id),
      mediaUrl: ({ url, mime, name }) => ctx.media.registerFetched({ botId: this.id, ref: url, mime, name }),
    };
    this.context = { for: ctx, value };
    return value;
  }

  private channelKind(id: string): ChannelType | undefined {
    // A guild channel is known to the client of its guild's shard, a DM channel to shard 0's.
    let channel;
    for (const client of this.clients.values()) if ((channel = client.channels.cache.get(id))) break;
    if (!channel) return undefined;
    if (channel.isThread()) return 'thread';
    if (channel.isDMBased()) return 'direct';
    return 'channel';
  }
}

const replayedEvent = { replayed: true } as const;
const liveEvent = { replayed: false } as const;

/** How long stop() waits for sends under way (one may be waiting out a 429). */
const sendDrainMs = 10_000;

async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  if (promises.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(promises), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export default defineAdapter({
  type: 'discord',
  configSchema: discordConfig,
  create: (config) => new DiscordAdapter(config),
});
