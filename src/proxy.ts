// How an adapter reaches its platform: directly, or through the operator's http(s) proxy
// (CONNECT tunnels for REST calls, media and websocket gateways alike).

import { Agent as HttpAgent, request as httpRequest, type ClientRequestArgs } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { fetch as undiciFetch, ProxyAgent, type Dispatcher } from 'undici';

export interface Transport {
  /** For undici requests; undefined means undici's global dispatcher (a direct connection). */
  dispatcher: Dispatcher | undefined;
  /** For the `ws` client, per gateway URL; undefined means a direct connection. */
  wsAgent(url: string): HttpAgent | undefined;
  close(): Promise<void>;
}

/** A fetch that goes through the transport, for SDKs that take a fetch implementation. */
export function proxiedFetch(transport: Transport): typeof globalThis.fetch | undefined {
  const { dispatcher } = transport;
  if (!dispatcher) return undefined;
  return ((input: Parameters<typeof undiciFetch>[0], init?: Parameters<typeof undiciFetch>[1]) => undiciFetch(input, { ...init, dispatcher })) as unknown as typeof globalThis.fetch;
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
