// The web sandbox: a platform like the others, whose "app" is a page served by Switchboard itself.

import { readFile } from 'node:fs/promises';
import type Router from '@koa/router';
import { defineAdapter, type Adapter, type AdapterContext, type SendOptions, type Streaming } from '../../src/adapter.js';
import { retryable } from '../../src/delivery/retry.js';
import { HttpError, readJson, unavailable } from '../../src/inbound/http.js';
import { openSse } from '../../src/inbound/sse.js';
import type { Delivery, OutgoingMessage } from '../../src/message.js';
import { Chats, type ChatMessage } from './chats.js';
import { normalize } from './normalize.js';
import { render } from './render.js';
import { postLimit, sandboxConfig, sandboxPost, type SandboxConfig } from './schema.js';
import { sandboxStreaming } from './stream.js';

const pageFile = new URL('./page.html', import.meta.url);
const selfId = 'bot';

export class SandboxAdapter implements Adapter {
  readonly type = 'sandbox';
  readonly id: string;
  readonly selfId = selfId;
  private readonly chats: Chats;
  private ctx: AdapterContext | undefined;
  private nextId = 1;
  readonly streaming: Streaming;
  /** The bot as the page shows it. */
  private readonly bot: ChatMessage['from'];

  constructor(private readonly config: SandboxConfig) {
    this.id = config.id;
    this.chats = new Chats(config.history);
    this.bot = { id: selfId, name: config.name, isBot: true };
    this.streaming = sandboxStreaming({ chats: this.chats, from: this.bot, newId: () => this.newId(), media: () => this.ctx?.media });
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.ctx) return;
    this.ctx = ctx;
    const base = `/sandbox/${this.id}`;
    // Routes are mounted before the first await, so with several sandboxes the first configured owns the root.
    const page = readFile(pageFile, 'utf8').then((html) => html.replaceAll('__SANDBOX_API__', `${base}/api`));
    page.catch(() => {}); // a failed read answers 500 on request; it must not be an unhandled rejection meanwhile
    const servePage = async (koa: { type: string; body: unknown }) => {
      koa.type = 'html';
      koa.body = await page;
    };
    const root = ctx.rootRouter;
    root.get(`${base}/`, servePage);
    // The first sandbox also owns the server root, so a newcomer finds it at http://host:port/.
    const ownsRoot = !root.stack.some((layer) => layer.path === '/');
    if (ownsRoot) root.get('/', servePage);
    this.mountApi(root, `${base}/api`, ctx);
    ctx.logger.info({ url: `${ctx.publicUrl}${ownsRoot ? '/' : `${base}/`}` }, 'sandbox chat page ready: open it in a browser');
  }

  async stop(): Promise<void> {
    this.chats.closeAll();
    this.ctx = undefined;
  }

  /** One message per item, shown at once: nothing to retry, and no limits to pace to. */
  async send(message: OutgoingMessage, options?: SendOptions): Promise<Delivery> {
    const started = performance.now();
    const ctx = this.ctx;
    if (!ctx) return { ok: false, ids: [], error: 'sandbox is not running', failure: retryable, ms: 0 };
    if ((options?.sent ?? 0) > 0) return { ok: true, ids: [], ms: 0 }; // an earlier try showed it
    const id = this.newId();
    this.chats.append({
      id,
      chatId: message.to.channelId,
      from: this.bot,
      replyTo: message.replyTo,
      timestamp: Date.now(),
      segments: render(message.content, ctx.media),
    });
    return { ok: true, ids: [id], ms: performance.now() - started };
  }

  private mountApi(router: Router, api: string, ctx: AdapterContext): void {
    router.get(`${api}/info`, (koa) => {
      koa.body = { botId: this.id, botName: this.config.name, selfId, commands: ctx.commands() };
    });
    router.get(`${api}/chats/:chat/messages`, (koa) => {
      koa.body = { messages: this.chats.history(koa.params.chat!) };
    });
    router.get(`${api}/events`, (koa) => {
      const chat = koa.query.chat;
      if (typeof chat !== 'string' || chat === '') throw new HttpError(400, 'query parameter "chat" is required');
      this.chats.subscribe(chat, openSse(koa));
    });
    router.post(`${api}/messages`, async (koa) => {
      const parsed = sandboxPost.safeParse(await readJson(koa.req, postLimit));
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const big = issue.message.includes('larger than');
        throw new HttpError(big ? 413 : 400, `${issue.path.join('.') || 'body'}: ${issue.message}`);
      }
      const post = parsed.data;
      if (!post.text?.trim() && !post.attachments?.length) throw new HttpError(400, 'text or attachments: send some text or a file');
      const id = this.newId();
      const message = normalize(post, id, this.id, { id: selfId, name: this.config.name }, ctx.media);
      this.chats.append({
        id,
        chatId: post.chat.id,
        from: { id: post.user.id, name: post.user.name, isBot: false },
        replyTo: post.replyTo,
        timestamp: message.timestamp,
        segments: render(message.content, ctx.media),
      });
      // No dedup key: the page never posts a message twice, and ids start again at s1 after a
      // restart, where the store would take them for messages it has seen.
      const admission = await ctx.dispatch({ normalize: () => message });
      if (admission === 'closed') throw unavailable('not taken now (shutting down, or the store cannot record it); send it again later');
      koa.status = 202;
      koa.body = { id };
    });
  }

  private newId(): string {
    return `s${this.nextId++}`;
  }
}

export default defineAdapter({
  type: 'sandbox',
  configSchema: sandboxConfig,
  create: (config) => new SandboxAdapter(config),
});
