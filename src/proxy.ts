// How an adapter reaches its platform: directly, or through the operator's http(s) proxy
// (CONNECT tunnels for REST calls, media and websocket gateways alike).

import { Agent as HttpAgent, request as httpRequest, type ClientRequestArgs } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Readable } from 'node:stream';
import { ProxyAgent, request, type Dispatcher } from 'undici';

export interface Transport {
  /** For undici requests; undefined means undici's global dispatcher (a direct connection). */
  dispatcher: Dispatcher | undefined;
  /** For the `ws` client, per gateway URL; undefined means a direct connection. */
  wsAgent(url: string): HttpAgent | undefined;
  close(): Promise<void>;
}

/** The part of a fetch Response that SDKs taking a `fetch` option read. */
interface LightResponse {
  status: number;
  ok: boolean;
  headers: Headers;
  text(): Promise<string>;
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * A fetch for SDKs that take one (node-telegram-bot-api's `fetch` option), built on undici's
 * `request`: the same keep-alive pool without the WHATWG stream machinery of a full fetch, which
 * costs more CPU per call than the rest of a webhook round trip. Goes through the transport's proxy if any.
 */
export function lightFetch(transport?: Transport): typeof globalThis.fetch {
  const dispatcher = transport?.dispatcher;
  return (async (input: string | URL, init: RequestInit = {}): Promise<LightResponse> => {
    const headers = new Headers(init.headers);
    const response = await request(String(input), {
      method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: Object.fromEntries(headers),
      body: await toBody(init.body),
      signal: init.signal ?? undefined,
      dispatcher,
    });
    const responseHeaders = new Headers();
    for (const [key, value] of Object.entries(response.headers)) if (value !== undefined) responseHeaders.set(key, Array.isArray(value) ? value.join(', ') : value);
    return {
      status: response.statusCode,
      ok: response.statusCode >= 200 && response.statusCode < 300,
      headers: responseHeaders,
      text: () => response.body.text(),
      json: () => response.body.json(),
      arrayBuffer: () => response.body.arrayBuffer(),
    };
  }) as unknown as typeof globalThis.fetch;
}

async function toBody(body: RequestInit['body']): Promise<string | Uint8Array | Readable | undefined> {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (body instanceof Blob) return new Uint8Array(await body.arrayBuffer());
  if (body instanceof ReadableStream) return Readable.fromWeb(body as import('node:stream/web').ReadableStream);
  throw new TypeError('unsupported request body');
}

export function createTransport(proxy: string | undefined): Transport {
  if (!proxy) return { dispatcher: undefined, wsAgent: () => undefined, close: async () => {} };
  const dispatcher = new ProxyAgent({ uri: proxy });
  const agents = { 'http:': new ConnectTunnelAgent(new URL(proxy), false), 'https:': new ConnectTunnelAgent(new URL(proxy), true) };
  return {
    dispatcher,
    wsAgent: (url) => (url.startsWith('wss:') ? agents['https:'] : agents['http:']),
    close: async () => {
      agents['http:'].destroy();
      agents['https:'].destroy();
      await dispatcher.close();
    },
  };
}

/** A proxy URL safe for logs: the password masked. */
export function describeProxy(proxy: string): string {
  const url = new URL(proxy);
  if (url.password) url.password = '****';
  return url.href;
}

/** An http.Agent whose sockets are CONNECT tunnels through a proxy (TLS inside the tunnel for wss:). */
class ConnectTunnelAgent extends HttpAgent {
  constructor(
    private readonly proxy: URL,
    private readonly secure: boolean,
  ) {
    super({ keepAlive: false });
    // node:https refuses an agent whose protocol is not https:
    (this as unknown as { protocol: string }).protocol = secure ? 'https:' : 'http:';
  }

  override createConnection(options: ClientRequestArgs & { servername?: string }, done?: (error: Error | null, socket: Duplex) => void): undefined {
    if (!done) throw new Error('the tunnel agent needs a callback');
    const fail = (error: Error) => (done as (error: Error) => void)(error);
    const { secure } = this;
    const host = options.host ?? 'localhost';
    const port = Number(options.port) || (secure ? 443 : 80);
    const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const headers: Record<string, string> = { host: target };
    if (this.proxy.username || this.proxy.password)
      headers['proxy-authorization'] = `Basic ${Buffer.from(`${decodeURIComponent(this.proxy.username)}:${decodeURIComponent(this.proxy.password)}`).toString('base64')}`;
    const send = this.proxy.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send({ host: this.proxy.hostname.replace(/^\[|\]$/g, ''), port: this.proxy.port || (this.proxy.protocol === 'https:' ? 443 : 80), method: 'CONNECT', path: target, headers, agent: false });
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        return fail(new Error(`proxy refused the tunnel to ${target} (HTTP ${res.statusCode})`));
      }
      if (!secure) return done(null, socket);
      const tlsOptions: ConnectionOptions = { socket, servername: options.servername ?? (host.includes(':') ? undefined : host) };
      const tls = tlsConnect(tlsOptions);
      tls.once('secureConnect', () => done(null, tls));
      tls.once('error', fail);
    });
    req.once('error', (error) => fail(new Error(`proxy connection failed: ${error.message}`)));
    req.end();
    return undefined;
  }
}
