// The platforms' webhook routes, /webhooks/<id>/…, served straight from node:http: a platform's
// delivery is the hot path of every message, and koa's context, its router's layers and its
// response machinery cost a webhook more than its own checks do. Everything else the server
// answers (probes, media, pages, the console) stays on koa. What both share lives in ./http.ts:
// bounded body reads, the 503 answer, how an authenticated request that cannot be read is acknowledged.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Consume, consumeUnreadable, errorBody, HttpError, logError, type Unreadable, where } from './http.js';
import type { Logger } from '../runtime/logger.js';

/** One request to a platform's webhook route, as its handler sees it. */
export class WebhookRequest implements Unreadable {
  /** Set by authenticated(): how a failure to read this request is answered from then on. */
  consume: Consume | undefined;
  private params: URLSearchParams | undefined;

  constructor(
    readonly raw: IncomingMessage,
    /** The path below /webhooks/<id>: "/" for the platform's own address. */
    readonly path: string,
    private readonly search: string,
  ) {}

  get method(): string {
    return this.raw.method!;
  }

  /** The client's address (the socket's: Switchboard trusts no proxy header). */
  get ip(): string {
    return this.raw.socket.remoteAddress ?? '';
  }

  /** A header by its lower-case name; undefined when it is absent or empty. */
  header(name: string): string | undefined {
    const value = this.raw.headers[name];
    return (Array.isArray(value) ? value.join(', ') : value) || undefined;
  }

  /** A query parameter, decoded ("+" read as a space), its first value when repeated; undefined when absent. */
  query(name: string): string | undefined {
    this.params ??= new URLSearchParams(this.search);
    return this.params.get(name) ?? undefined;
  }
}

/**
 * What a webhook route answers. A string body goes as text/plain, an object as JSON, a Buffer
 * as application/octet-stream, unless `type` says otherwise (text types and JSON in UTF-8).
 */
export interface WebhookAnswer {
  status?: number;
  type?: string;
  body: string | Buffer | object;
}

export type WebhookHandler = (request: WebhookRequest) => WebhookAnswer | Promise<WebhookAnswer>;

/** A platform's routes, served under /webhooks/<id>. */
export interface WebhookRoutes {
  get(path: string, handler: WebhookHandler): void;
  post(path: string, handler: WebhookHandler): void;
}

export interface WebhookServerOptions {
  logger: Logger;
  /** Seconds a 503 asks the platform to wait (Retry-After). */
  retryAfterSeconds: number;
  /** Why no webhook can be taken now (shutting down, the store cannot record events), or undefined. */
  refusal(): string | undefined;
}

/** By path, then by method. */
type Routes = Map<string, Map<string, WebhookHandler>>;

export const webhookPrefix = '/webhooks/';

export class WebhookServer {
  private readonly platforms = new Map<string, Routes>();
  private readonly retryAfter: string;

  constructor(private readonly options: WebhookServerOptions) {
    this.retryAfter = String(options.retryAfterSeconds);
  }

  /** Platform `id`'s routes. */
  routes(id: string): WebhookRoutes {
    const routes: Routes = new Map();
    this.platforms.set(id, routes);
    const add = (method: string) => (path: string, handler: WebhookHandler) => {
      const key = routePath(path);
      let methods = routes.get(key);
      if (!methods) routes.set(key, (methods = new Map()));
      if (methods.has(method)) throw new Error(`webhook route ${method} /webhooks/${id}${path} is already mounted`);
      methods.set(method, handler);
    };
    return { get: add('GET'), post: add('POST') };
  }

  /** Answers a request to `url` (its path and query), which starts with /webhooks/. */
  serve(req: IncomingMessage, res: ServerResponse, url: string): void {
    const queryAt = url.indexOf('?');
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    const refusal = this.options.refusal();
    if (refusal) return this.send(res, req.method === 'HEAD', 503, jsonType, errorBody(refusal));
    const slash = path.indexOf('/', webhookPrefix.length);
    const routes = this.platforms.get(slash < 0 ? path.slice(webhookPrefix.length) : path.slice(webhookPrefix.length, slash));
    const subpath = slash < 0 ? '/' : routePath(path.slice(slash));
    const methods = routes?.get(subpath);
    if (!methods) return this.send(res, req.method === 'HEAD', 404, jsonType, errorBody('no such webhook route'));
    const method = req.method === 'HEAD' ? 'GET' : req.method!;
    const handler = methods.get(method);
    if (!handler) {
      const allow = [...methods.keys()].flatMap((m) => (m === 'GET' ? ['HEAD', 'GET'] : [m])).join(', ');
      if (method === 'OPTIONS') return void res.writeHead(200, { Allow: allow, 'Content-Length': 0 }).end();
      res.setHeader('Allow', allow);
      return this.send(res, false, 405, jsonType, errorBody(`${method} is not allowed here (${allow})`));
    }
    const request = new WebhookRequest(req, subpath, queryAt < 0 ? '' : url.slice(queryAt + 1));
    let answer: WebhookAnswer | Promise<WebhookAnswer>;
    try {
      answer = handler(request);
    } catch (error) {
      return this.fail(request, res, error);
    }
    if (answer instanceof Promise)
      answer.then(
        (answer) => this.answer(request, res, answer),
        (error: unknown) => this.fail(request, res, error),
      );
    else this.answer(request, res, answer);
  }

  private answer(request: WebhookRequest, res: ServerResponse, answer: WebhookAnswer): void {
    try {
      const { body } = answer;
      const text = typeof body === 'string';
      const bytes = text || Buffer.isBuffer(body);
      const type = answer.type ? withCharset(answer.type) : text ? textType : bytes ? 'application/octet-stream' : jsonType;
      this.send(res, request.method === 'HEAD', answer.status ?? 200, type, bytes ? body : JSON.stringify(body));
    } catch (error) {
      // An answer that cannot be written (a body JSON cannot hold, a header value Node refuses) is
      // ours to fix: failed like any error, the ack answered instead, unless the ack is what failed.
      this.fail(request, res, error, answer !== request.consume?.ack);
    }
  }

  private fail(request: WebhookRequest, res: ServerResponse, error: unknown, acknowledge = true): void {
    const head = request.method === 'HEAD';
    if (acknowledge && consumeUnreadable(request, error)) return this.answer(request, res, request.consume!.ack);
    if (error instanceof HttpError) return this.send(res, head, error.status, jsonType, errorBody(error.message));
    logError(this.options.logger, error as Error, where(request.raw));
    this.send(res, head, 500, jsonType, errorBody('internal error'));
  }

  /** Writes the answer, unless the client is gone or it was answered already. */
  private send(res: ServerResponse, head: boolean, status: number, type: string, body: string | Buffer): void {
    if (res.headersSent || res.destroyed) return;
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (status === 503 && !res.hasHeader('Retry-After')) res.setHeader('Retry-After', this.retryAfter);
    res.writeHead(status, ['Content-Type', type, 'Content-Length', String(length)]);
    res.end(head ? undefined : body);
  }
}

const textType = 'text/plain; charset=utf-8';
const jsonType = 'application/json; charset=utf-8';

/** "/" for the platform's address itself; a trailing slash is not part of a route. */
function routePath(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path || '/';
}

function withCharset(type: string): string {
  return !type.includes(';') && (type.startsWith('text/') || type === 'application/json') ? `${type}; charset=utf-8` : type;
}
