// How an adapter reaches its platform: directly, or through the operator's proxy, an http(s)
// proxy (CONNECT tunnels) or a SOCKS5 one, for REST calls, media and websocket gateways alike.

import { Agent as HttpAgent, request as httpRequest, type ClientRequestArgs } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Readable } from 'node:stream';
import type { buildConnector, Dispatcher } from 'undici';
import { exchange, headersOf, targetOf } from './exchange.js';
import { openSocksTunnel } from './socks.js';
import { undici } from './undici.js';

const { Agent, ProxyAgent, request } = undici();

const isSocks = (url: URL) => url.protocol.startsWith('socks');

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
 * A fetch for SDKs that take one (a `fetch` option), on undici: the same keep-alive pool without
 * the WHATWG stream machinery of a full fetch, which costs more CPU per call than the rest of a
 * webhook round trip. A body in memory goes through exchange() (the answer gathered whole, no
 * stream at all); a streamed one (an upload) through undici's `request`. Goes through the
 * transport's proxy if any. `timeoutMs` bounds the wait for the answer's headers, and then each
 * pause in its body, on undici's own timers (300 s, undici's default, when not given): an SDK's
 * per-call `AbortSignal.timeout` is a timer, a signal and a listener per call, a few percent of a
 * webhook echo's CPU.
 */
export function lightFetch(transport?: Transport, options: { timeoutMs?: number } = {}): typeof globalThis.fetch {
  const dispatcher = transport?.dispatcher;
  const timeoutMs = options.timeoutMs ?? undiciDefaultTimeoutMs;
  return (async (input: string | URL, init: RequestInit = {}): Promise<LightResponse> => {
    const method = (init.method ?? 'GET') as Dispatcher.HttpMethod;
    const headers = plainHeaders(init.headers);
    const body = await toBody(init.body);
    const signal = init.signal ?? undefined;
    if (body instanceof Readable) {
      const response = await request(String(input), { method, headers, body, signal, dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      return lightResponse(response.statusCode, () => response.headers, { text: () => response.body.text(), json: () => response.body.json(), arrayBuffer: () => response.body.arrayBuffer() });
    }
    const url = typeof input === 'string' ? new URL(input) : input;
    // Unbounded, as a fetch is: a file the platform serves may be larger than exchange()'s default bound.
    const answer = await exchange(dispatcher, { ...targetOf(url), method, headers, body, timeoutMs, signal, maxBytes: Number.POSITIVE_INFINITY });
    const text = () => answer.body.toString('utf8');
    return lightResponse(answer.status, () => headersOf(answer), {
      text: async () => text(),
      json: async () => JSON.parse(text()) as unknown,
      arrayBuffer: async () => answer.body.buffer.slice(answer.body.byteOffset, answer.body.byteOffset + answer.body.byteLength) as ArrayBuffer,
    });
  }) as unknown as typeof globalThis.fetch;
}

/** undici's own headersTimeout and bodyTimeout. */
const undiciDefaultTimeoutMs = 300_000;

/** `headersOf` is asked only when an SDK reads the headers. */
function lightResponse(status: number, headersOf: () => Record<string, string | string[] | undefined>, body: Pick<LightResponse, 'text' | 'json' | 'arrayBuffer'>): LightResponse {
  let headers: Headers | undefined;
  return {
    status,
    ok: status >= 200 && status < 300,
    // Made when read: most SDKs never look.
    get headers() {
      return (headers ??= responseHeaders(headersOf()));
    },
    ...body,
  };
}

/**
 * A record as it is (what SDKs pass); a Headers or a list of pairs (iterable, unlike a record)
 * read into one. Asking `instanceof Headers` would load Node's bundled fetch for a record too.
 */
function plainHeaders(init: RequestInit['headers']): Record<string, string> | undefined {
  if (init === undefined) return undefined;
  if (Symbol.iterator in init) return Object.fromEntries(new Headers(init));
  return init as Record<string, string>;
}

function responseHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(raw)) if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  return headers;
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
  const url = new URL(proxy);
  const open: OpenTunnel = isSocks(url) ? (host, port) => openSocksTunnel(url, host, port) : (host, port) => openConnectTunnel(url, host, port);
  const dispatcher = isSocks(url) ? new Agent({ connect: socksConnector(open) }) : new ProxyAgent({ uri: proxy });
  const agents = { 'http:': new TunnelAgent(open, false), 'https:': new TunnelAgent(open, true) };
  return {
    dispatcher,
    wsAgent: (target) => (target.startsWith('wss:') ? agents['https:'] : agents['http:']),
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

/** Opens a raw connection to host:port through the proxy. */
type OpenTunnel = (host: string, port: number) => Promise<Duplex>;

/** An http.Agent (for the `ws` client) whose sockets are proxy tunnels, with TLS inside the tunnel for wss:. */
class TunnelAgent extends HttpAgent {
  constructor(
    private readonly open: OpenTunnel,
    private readonly secure: boolean,
  ) {
    super({ keepAlive: false });
    // node:https refuses an agent whose protocol is not https:
    (this as unknown as { protocol: string }).protocol = secure ? 'https:' : 'http:';
  }

  override createConnection(options: ClientRequestArgs & { servername?: string }, done?: (error: Error | null, socket: Duplex) => void): undefined {
    if (!done) throw new Error('the tunnel agent needs a callback');
    const host = options.host ?? 'localhost';
    const port = Number(options.port) || (this.secure ? 443 : 80);
    tunnel(this.open, host, port, this.secure ? (options.servername ?? host) : undefined).then(
      (socket) => done(null, socket),
      (error: Error) => (done as (error: Error) => void)(error),
    );
    return undefined;
  }
}

/** undici's connector for a SOCKS proxy: its pools then speak HTTP(S) over the tunnel. */
function socksConnector(open: OpenTunnel): buildConnector.connector {
  return (options, callback) => {
    const secure = options.protocol === 'https:';
    const port = Number(options.port) || (secure ? 443 : 80);
    tunnel(open, options.hostname, port, secure ? (options.servername ?? options.hostname) : undefined).then(
      (socket) => callback(null, socket as never),
      (error: Error) => callback(error, null),
    );
  };
}

/** A tunnel to host:port, wrapped in TLS when a server name is given. */
async function tunnel(open: OpenTunnel, host: string, port: number, servername: string | undefined): Promise<Duplex> {
  const socket = await open(host, port);
  if (servername === undefined) return socket;
  const bare = servername.replace(/^\[|\]$/g, '');
  const tlsOptions: ConnectionOptions = { socket, servername: bare.includes(':') || /^[\d.]+$/.test(bare) ? undefined : bare };
  return new Promise((resolve, reject) => {
    const tls = tlsConnect(tlsOptions);
    tls.once('secureConnect', () => resolve(tls));
    tls.once('error', reject);
  });
}

/** An HTTP CONNECT tunnel through an http(s) proxy, with Basic credentials from the proxy URL. */
export function openConnectTunnel(proxy: URL, host: string, port: number, timeoutMs = 30_000): Promise<Duplex> {
  const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { host: target };
  if (proxy.username || proxy.password)
    headers['proxy-authorization'] = `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
  const send = proxy.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send({ host: proxy.hostname.replace(/^\[|\]$/g, ''), port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80), method: 'CONNECT', path: target, headers, agent: false });
    req.once('connect', (res, socket) => {
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(new Error(`proxy refused the tunnel to ${target} (HTTP ${res.statusCode})`));
    });
    req.once('error', (error) => reject(new Error(`proxy connection failed: ${error.message}`)));
    // A proxy that takes the connection but never answers must not hold a gateway reconnect forever.
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`proxy did not open the tunnel to ${target} within ${timeoutMs} ms`)));
    req.end();
  });
}
