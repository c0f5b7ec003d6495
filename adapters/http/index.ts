// A plain HTTP endpoint, request- and response-compatible with AstrBot's HTTP endpoint adapter:
// any website, backend or script can chat with the bot without a chat app.

import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type Router from '@koa/router';
import type { Context as KoaContext } from 'koa';
import { defineAdapter, type Adapter, type AdapterContext, type SendOptions, type Streaming } from '../../src/adapter.js';
import { idempotencyKey } from '../../src/delivery/idempotency.js';
import { fatal, retryable } from '../../src/delivery/retry.js';
import { readJson, unavailable } from '../../src/inbound/http.js';
import { openSse, sseFrame } from '../../src/inbound/sse.js';
import type { Delivery, OutgoingMessage } from '../../src/message.js';
import { StoreError } from '../../src/store/index.js';
import { ReplyCache, type PollCache } from './cache.js';
import { CallbackSender } from './callback.js';
import { channelOf, normalize } from './normalize.js';
import { render } from './render.js';
import { httpConfig, httpRequest, type HttpConfig } from './schema.js';
import { SharedReplyCache } from './shared-cache.js';
import { httpStreaming, LiveAnswers } from './stream.js';
import { ApiKeys } from './verify.js';

const refreshPath = '/api/plug/hep/refresh_token';
/** One refresh route per server, shared by every HTTP platform on it: the key says which one is asked. */
const refreshers = new WeakMap<Router, Set<HttpAdapter>>();

export class HttpAdapter implements Adapter {
  readonly type = 'http';
  readonly id: string;
  readonly selfId = 'bot';
  /** Made at the first start, from the store: in it when other instances share it, else in this process. */
  private keys!: ApiKeys;
  private cache!: PollCache;
  private readonly callback: CallbackSender | undefined;
  private ctx: AdapterContext | undefined;
  private mounted = false;
  private readonly live = new LiveAnswers();
  /** Poll mode only: a callback POSTs finished answers, never deltas. */
  readonly streaming: Streaming | undefined;

  constructor(private readonly config: HttpConfig) {
    this.id = config.id;
    this.callback = config.mode === 'callback' ? new CallbackSender(config) : undefined;
    this.streaming = this.callback ? undefined : httpStreaming(this.live, () => this.cache);
  }

  private get keyFile(): string {
    return resolve(this.config.keyFile ?? `.switchboard/${this.id}.api-key.json`);
  }

  get path(): string {
    return `/api/plug${this.config.endpoint === '/' ? '' : this.config.endpoint}`;
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.ctx) return;
    const { config, keyFile } = this;
    const { store } = ctx;
    this.keys ??= new ApiKeys(keyFile, config.apiKey, config.apiKeyTtl, config.apiKeyGrace, store.shared ? { store, key: `http:${this.id}:api-key` } : undefined);
    this.cache ??= store.shared ? new SharedReplyCache(store, this.id, config.cacheTtl) : new ReplyCache(config.cacheSize, config.cacheTtl);
    if (store.shared) this.live.share(store, this.id, config.cacheTtl);
    const generated = await this.keys.load();
    this.ctx = ctx;
    if (generated) ctx.logger.warn({ keyFile }, 'generated an API key for the HTTP endpoint; clients find it in this file');
    if (!this.mounted) this.mount(ctx.rootRouter);
    ctx.logger.info({ path: this.path, mode: this.config.mode }, 'HTTP endpoint ready');
  }

  async stop(): Promise<void> {
    this.ctx = undefined;
    this.cache?.close();
  }

  /**
   * Poll mode: the items join the msg_id's answers at once. Callback mode: one POST carries them
   * all, tried under the policy callbackRetries and callbackRetryDelay describe; when that gives
   * up the failure is final, so the core keeps a dead letter instead of retrying a second time.
   */
  async send(message: OutgoingMessage, options?: SendOptions): Promise<Delivery> {
    const started = performance.now();
    // Parts an earlier try delivered are not sent again (a callback POST delivers all or none).
    const items = render(message.content, options?.key).slice(options?.sent ?? 0);
    const ids = items.map((i) => i.item_id);
    if (items.length === 0) return { ok: true, ids, ms: 0 };
    if (!this.callback) {
      try {
        await this.cache.add(message.inResponseTo, message.to.channelId, items);
      } catch (error) {
        return { ok: false, ids: [], error: `could not keep the answer for polling: ${(error as Error).message}`, failure: retryable, ms: performance.now() - started };
      }
      return { ok: true, ids, ms: performance.now() - started };
    }
    // A message the bot sends on its own gets an id of its own, the same on every try.
    const msgId = message.inResponseTo ?? `push-${options ? idempotencyKey(options.key, 0, 22) : randomUUID()}`;
    const error = await this.callback.deliver(msgId, items, options?.signal);
    const ms = performance.now() - started;
    if (!error) return { ok: true, ids, ms };
    return { ok: false, ids: [], error: `callback for msg_id ${msgId}: ${error}`, failure: options?.signal.aborted ? retryable : fatal, ms };
  }

  private mount(router: Router): void {
    this.mounted = true;
    router.post(this.path, (koa) => storeOrUnavailable(() => this.receive(koa)));
    let adapters = refreshers.get(router);
    if (!adapters) {
      refreshers.set(router, (adapters = new Set()));
      const all = adapters;
      const refresh = async (koa: KoaContext) => {
        const authorization = koa.get('authorization') || undefined;
        const running = [...all].filter((a) => a.ctx);
        const checks = await Promise.all(running.map((a) => a.keys.check(authorization)));
        const owner = running.find((_, i) => checks[i]!.ok);
        if (!owner) return unauthorized(koa, checks[0] ?? { ok: false, reason: 'no HTTP endpoint' });
        const { key, ttlSeconds } = await owner.keys.refresh();
        owner.ctx?.logger.info('API key refreshed by a client');
        koa.body = { code: 0, detail: 'success', api_key: key, api_key_ttl: ttlSeconds };
      };
      router.get(refreshPath, (koa) => storeOrUnavailable(() => refresh(koa)));
      router.post(refreshPath, (koa) => storeOrUnavailable(() => refresh(koa)));
    }
    adapters.add(this);
  }

  private async receive(koa: KoaContext): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) throw unavailable('this platform is stopped');
    const auth = await this.keys.check(koa.get('authorization') || undefined);
    if (!auth.ok) return unauthorized(koa, auth);
    const parsed = httpRequest.safeParse(await readJson(koa.req, ctx.bodyLimit));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return badRequest(koa, `${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const body = parsed.data;
    if (body.stream && this.callback) return badRequest(koa, 'stream: only in poll mode; in callback mode each answer is POSTed to callbackUrl');
    const msgId = body.msg_id ?? randomUUID();
    const answer = (data: unknown[]) => ({ code: 0, detail: 'success', msg_id: msgId, api_key_ttl: this.keys.ttlSeconds(), data });
    const respond = (data: unknown[]) => {
      if (body.stream) openSse(koa, this.config.streamHeartbeat).end(sseFrame('done', answer(data)));
      else koa.body = answer(data);
    };
    const poll = async () => {
      if (body.stream) return this.pollEvents(koa, msgId, this.waitMs(body.wait), answer);
      await this.cache.settle(msgId, this.waitMs(body.wait));
      respond(await this.cache.items(msgId));
    };
    // A msg_id seen before (here or, with a shared store, on another instance) is polled.
    if (!this.callback && !(await this.cache.open(msgId, channelOf(body).id))) return poll();
    const handled = () => {
      this.live.clear(msgId);
      void Promise.resolve(this.cache.handled(msgId)).catch((error: unknown) => ctx.logger.warn({ msgId, err: (error as Error).message }, 'could not mark a message handled; its polls wait out their time'));
    };
    const admission = await ctx.dispatch({ key: msgId, normalize: () => normalize(body, msgId, this.id), onHandled: this.callback ? undefined : handled });
    if (admission === 'closed') {
      // Not taken: the client's retry of this msg_id must be dispatched, not polled.
      if (!this.callback) await this.cache.forget(msgId);
      throw unavailable('not taken now; send it again later');
    }
    if (admission === 'duplicate') {
      // Handled before (its answers expired from the cache, or came before a restart): it is not
      // handled twice, and answers empty, now and on a re-poll.
      if (!this.callback) handled();
      return respond([]);
    }
    if (this.callback) return respond([]);
    await poll();
  }

  /**
   * `stream: true`: answered at once with an event stream, the message's deltas as they come (the
   * text shown so far first), then `done` with what a poll answers once it is handled (or `wait`
   * ran out), and the stream ends.
   */
  private pollEvents(koa: KoaContext, msgId: string, waitMs: number, answer: (data: unknown[]) => unknown): void {
    const events = openSse(koa, this.config.streamHeartbeat);
    const caughtUp = this.live.attach(msgId, events);
    const done = async () => {
      await this.cache.settle(msgId, waitMs);
      const items = await this.cache.items(msgId);
      await caughtUp();
      events.end(sseFrame('done', answer(items)));
    };
    done().catch((error: unknown) => {
      // The status went out with the first byte: the stream ends without `done`; the client polls again.
      this.ctx?.logger.warn({ msgId, err: (error as Error).message }, 'could not read the answer for an event stream; it ends without done');
      events.end();
    });
  }

  private waitMs(seconds: number | undefined): number {
    return Math.min(seconds === undefined ? this.config.wait : seconds * 1000, this.config.maxWait);
  }
}

/** A shared store that cannot answer (keys, polled answers) is a 503 with Retry-After, like a message the store cannot record. */
async function storeOrUnavailable(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (error instanceof StoreError) throw unavailable('the store cannot answer now; send it again later');
    throw error;
  }
}

function badRequest(koa: KoaContext, detail: string): void {
  koa.status = 400;
  koa.body = { code: 400, detail };
}

function unauthorized(koa: KoaContext, check: { ok: false; reason: string } | { ok: true }): void {
  koa.status = 401;
  koa.set('WWW-Authenticate', 'Bearer');
  koa.body = { code: 401, detail: check.ok ? 'unauthorized' : check.reason };
}

export default defineAdapter({
  type: 'http',
  configSchema: httpConfig,
  create: (config) => new HttpAdapter(config),
});
