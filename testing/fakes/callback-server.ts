// An operator's callback server, as a test drives it: koa on 127.0.0.1, one handler per stage.

import type { Server } from 'node:http';
import Koa, { type Context } from 'koa';
import { closeServer } from './http.js';

export interface ReceivedCallback {
  stage: string;
  path: string;
  headers: Record<string, string>;
  raw: string;
  body: Record<string, any>;
  /** When it arrived (Date.now()). */
  at: number;
}

export type StageReply = (ctx: Context, body: Record<string, any>) => void | Promise<void>;

export class CallbackServer {
  readonly received: ReceivedCallback[] = [];
  /** Every request that reached the server, before its body is read: a GET or an unreadable body counts too. */
  readonly hits: { method: string; path: string }[] = [];
  private readonly replies = new Map<string, StageReply>();
  private server: Server | undefined;
  url = '';

  /** How the server answers `/<stage>`; unset stages answer 204. */
  on(stage: string, reply: StageReply): this {
    this.replies.set(stage, reply);
    return this;
  }

  async start(): Promise<this> {
    const app = new Koa();
    app.use(async (ctx) => {
      this.hits.push({ method: ctx.method, path: ctx.path });
      const chunks: Buffer[] = [];
      for await (const chunk of ctx.req as AsyncIterable<Buffer>) chunks.push(chunk);
      const raw = Buffer.concat(chunks).toString('utf8');
      const body = (raw ? JSON.parse(raw) : {}) as Record<string, any>;
      const stage = ctx.path.slice(1);
      this.received.push({ stage, path: ctx.path, headers: ctx.headers as Record<string, string>, raw, body, at: Date.now() });
      const reply = this.replies.get(stage);
      if (reply) await reply(ctx, body);
      else ctx.status = 204;
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    this.server = server;
    const address = server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    return this;
  }

  stages(): string[] {
    return this.received.map((r) => r.stage);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await closeServer(server);
  }
}
