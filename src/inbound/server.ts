// The HTTP server: the platforms' webhooks (./webhooks.ts, straight from node:http), and a Koa app
// for everything else: adapter pages, media, health, metrics, the console.

import { createServer, type Server } from 'node:http';
import type KoaRouter from '@koa/router';
import type KoaApp from 'koa';
import type { Context } from 'koa';
import { errorBody, HttpError, logError, onClientError } from './http.js';
import { WebhookServer, webhookPrefix, type WebhookRoutes } from './webhooks.js';
import type { Logger } from '../runtime/logger.js';
import { MediaHeldElsewhere, MediaStore } from '../media/media.js';
import type { Metrics } from '../runtime/metrics.js';
import { errorMessage } from './supervisor.js';
import { requireCommonJs } from '../runtime/require-commonjs.js';

// Required, not imported (see require-commonjs.ts): @koa/router's ES build costs a start ~25 ms
// more than its CommonJS one, koa's ES wrapper ~10 ms. Every router of the process is made from
// this one (the console's too): an import elsewhere would load the ES build beside it.
export const Router: typeof KoaRouter = requireCommonJs('@koa/router');
export type Router = KoaRouter;
const Koa: typeof KoaApp = requireCommonJs('koa');

export interface HttpServerOptions {
  media: MediaStore;
  logger: Logger;
  metrics: Metrics;
  /** The body of /healthz: its `status` and whatever else an operator should see. */
  health: () => { status: string } & Record<string, unknown>;
  /** The body of /readyz; 503 unless `ready`. */
  readiness: () => { ready: boolean };
  /**
   * Whether the store can record events now. While it cannot, webhooks are answered 503 at once,
   * before anything is read: the platform delivers again later, to this instance or another.
   */
  storeAvailable: () => boolean;
  /** Seconds a 503 asks the client to wait (Retry-After): one answer for every route when Switchboard cannot take work. */
  retryAfterSeconds: number;
  /** How long a client may take to send a request's headers, and the whole request; slower ones are cut off (408). */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

/** Routes that answer while shutting down: liveness, readiness and metrics are about the process, not work. */
const probes = new Set(['/healthz', '/readyz', '/metrics']);

export class HttpServer {
  readonly app = new Koa();
  /** Unprefixed routes (adapter pages such as the sandbox's). */
  readonly root = new Router();
  private readonly webhooks: WebhookServer;
  private server: Server | undefined;
  private draining = false;

  constructor(private readonly options: HttpServerOptions) {
    const { app, root } = this;
    app.proxy = false;
    this.webhooks = new WebhookServer({
      logger: options.logger,
      retryAfterSeconds: options.retryAfterSeconds,
      refusal: () => (this.draining ? 'shutting down' : options.storeAvailable() ? undefined : 'the store is unavailable'),
    });
    app.on('error', (error: Error & { status?: number }, koa?: Context) => logError(options.logger, error, koa ? { method: koa.method, path: koa.path } : undefined));
    const retryAfter = String(options.retryAfterSeconds);
    app.use(async (ctx, next) => {
      if (this.draining && !probes.has(ctx.path)) {
        ctx.status = 503;
        ctx.set('Retry-After', retryAfter);
        json(ctx, errorBody('shutting down'));
        return;
      }
      try {
        await next();
      } catch (error) {
        if (error instanceof HttpError) {
          ctx.status = error.status;
          json(ctx, errorBody(error.message));
          if (error.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', retryAfter);
          return;
        }
        throw error;
      }
      if (ctx.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', retryAfter);
    });
    root.get('/healthz', (ctx) => {
      // Liveness: 200 while the process serves, even shutting down: a platform that cannot connect is not fixed by restarting us.
      json(ctx, JSON.stringify(options.health()));
    });
    root.get('/readyz', (ctx) => {
      const readiness = options.readiness();
      ctx.status = readiness.ready ? 200 : 503;
      json(ctx, JSON.stringify(readiness));
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
        if (error instanceof MediaHeldElsewhere) throw new HttpError(503, error.message);
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

  /** Platform `id`'s routes, served under /webhooks/<id>. */
  webhookRoutes(id: string): WebhookRoutes {
    return this.webhooks.routes(id);
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const { app, root, webhooks } = this;
    app.use(root.routes()).use(root.allowedMethods());
    const koa = app.callback();
    const { headersTimeoutMs: headersTimeout, requestTimeoutMs: requestTimeout } = this.options;
    // Node checks these deadlines on a timer (every 30 s by default): often enough to keep to them.
    const connectionsCheckingInterval = Math.min(1000, Math.max(50, Math.floor(headersTimeout / 4)));
    const server = createServer({ headersTimeout, requestTimeout, connectionsCheckingInterval }, (req, res) => {
      const url = originForm(req.url!);
      if (url.startsWith(webhookPrefix)) webhooks.serve(req, res, url);
      else void koa(req, res);
    });
    server.listen({ host, port });
    this.server = server;
    server.keepAliveTimeout = 65_000;
    server.on('clientError', onClientError(this.options.logger));
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

/**
 * A request target as a path and query. A client talking to a proxy may send the absolute form
 * (`POST http://host/webhooks/tg`), which an HTTP/1.1 server must take too (RFC 9112, 3.2.2).
 */
function originForm(target: string): string {
  if (target.charCodeAt(0) === 47 /* "/" */) return target;
  try {
    const url = new URL(target);
    return url.pathname + url.search;
  } catch {
    return target;
  }
}

/**
 * A JSON answer, set as its text (an error's made by errorBody, as the webhook routes make it).
 * Given an object, koa's body setter asks whether it is a web ReadableStream, Blob or Response,
 * and the first such question loads Node's bundled fetch (about 25 ms): on the probes, that was a
 * sixteenth of the time to the first ready answer.
 */
function json(ctx: Context, text: string): void {
  ctx.type = 'application/json';
  ctx.body = text;
}
