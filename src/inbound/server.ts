// The Koa app: webhook routes, adapter pages, media, health.

import type { Server } from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import { HttpError } from './http.js';
import type { Logger } from '../runtime/logger.js';
import { MediaStore } from '../media/media.js';
import type { Metrics } from '../runtime/metrics.js';
import { errorMessage } from './supervisor.js';

export interface HttpServerOptions {
  media: MediaStore;
  logger: Logger;
  metrics: Metrics;
  /** The body of /healthz: its `status` and whatever else an operator should see. */
  health: () => { status: string } & Record<string, unknown>;
  /** The body of /readyz; 503 unless `ready`. */
  readiness: () => { ready: boolean };
  /** Seconds a 503 asks the client to wait (Retry-After): one answer for every route when Switchboard cannot take work. */
  retryAfterSeconds: number;
}

/** Routes that answer while shutting down: liveness, readiness and metrics are about the process, not work. */
const probes = new Set(['/healthz', '/readyz', '/metrics']);

export class HttpServer {
  readonly app = new Koa();
  /** Unprefixed routes (adapter pages such as the sandbox's). */
  readonly root = new Router();
  private readonly webhookRouters: Router[] = [];
  private server: Server | undefined;
  private draining = false;

  constructor(private readonly options: HttpServerOptions) {
    const { app, root } = this;
    app.proxy = false;
    app.on('error', (error: Error & { status?: number; code?: string }) => {
      // A client that goes away mid-response (a closed tab on an event stream) is not our error.
      if (error.code === 'ERR_STREAM_PREMATURE_CLOSE' || error.code === 'ECONNRESET' || error.code === 'EPIPE') return;
      if (!error.status || error.status >= 500) options.logger.error({ err: error }, 'http error');
    });
    app.use(async (ctx, next) => {
      const retryAfter = String(options.retryAfterSeconds);
      if (this.draining && !probes.has(ctx.path)) {
        ctx.status = 503;
        ctx.set('Retry-After', retryAfter);
        ctx.body = { error: 'shutting down' };
        return;
      }
      try {
        await next();
      } catch (error) {
        if (error instanceof HttpError) {
          ctx.status = error.status;
          ctx.body = { error: error.message };
          if (error.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', retryAfter);
          return;
        }
        throw error;
      }
      if (ctx.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', retryAfter);
    });
    root.get('/healthz', (ctx) => {
      // Liveness: 200 while the process serves, even shutting down: a platform that cannot connect is not fixed by restarting us.
      ctx.body = options.health();
    });
    root.get('/readyz', (ctx) => {
      const readiness = options.readiness();
      ctx.status = readiness.ready ? 200 : 503;
      ctx.body = readiness;
    });
    root.get('/metrics', async (ctx) => {
      ctx.body = await options.metrics.render();
      ctx.type = options.metrics.contentType;
    });
    root.get(`${MediaStore.pathPrefix}:id`, async (ctx) => {
      let body;
      try {
        body = await options.media.load(ctx.params.id!);
      } catch (error) {
        // The bytes live on a platform that failed to hand them over: its failure, not the client's (and never a silent 500).
        options.logger.warn({ err: errorMessage(error) }, 'could not fetch media from its platform');
        throw new HttpError(502, 'the platform did not deliver this media; try again later');
      }
      if (!body) throw new HttpError(404, 'no such media (it may have expired)');
      ctx.type = body.mime;
      ctx.set('Cache-Control', 'private, max-age=300');
      if (body.name) ctx.attachment(body.name, { type: 'inline' });
      ctx.body = Buffer.from(body.data.buffer, body.data.byteOffset, body.data.byteLength);
    });
  }

  /** A router whose routes are served under /webhooks/<id>. */
  webhookRouter(id: string): Router {
    const router = new Router({ prefix: `/webhooks/${id}` });
    this.webhookRouters.push(router);
    return router;
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const { app, root } = this;
    for (const router of [root, ...this.webhookRouters]) app.use(router.routes()).use(router.allowedMethods());
    const server = app.listen({ host, port });
    this.server = server;
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', (error: NodeJS.ErrnoException) => reject(new ListenError(host, port, error)));
    });
    const address = server.address();
    return { host, port: typeof address === 'object' && address ? address.port : port };
  }

  /**
   * Stops taking work: until close(), every route but the probes answers 503 with Retry-After, so
   * platforms deliver again later and load balancers see /readyz fail while /healthz stays up.
   */
  stopAccepting(): void {
    this.draining = true;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.draining = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The server could not listen: the port is taken, privileged, or the host is not this machine's. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  readonly code: string | undefined;

  constructor(
    readonly host: string,
    readonly port: number,
    cause: NodeJS.ErrnoException,
  ) {
    super(listenProblem(host, port, cause), { cause });
    this.code = cause.code;
  }
}

function listenProblem(host: string, port: number, cause: NodeJS.ErrnoException): string {
  switch (cause.code) {
    case 'EADDRINUSE':
      return `port ${port} on ${host} is already in use (another program, or another Switchboard, listens there)`;
    case 'EACCES':
      return `port ${port} on ${host} needs privileges this process does not have (ports below 1024 usually do)`;
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this machine, so nothing can listen on it`;
    default:
      return `cannot listen on ${host}:${port}: ${cause.message}`;
  }
}
