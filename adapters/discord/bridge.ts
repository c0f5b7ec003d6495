// The gateway websocket through the operator's proxy. @discordjs/ws 1.2.3 opens its socket with
// `new WebSocket(url, [], { handshakeTimeout })` from `ws` and takes no agent, so it cannot be
// pointed at a proxy directly. Instead it is pointed at this bridge on 127.0.0.1: GET /gateway/bot
// and READY's resume_gateway_url are rewritten to bridge URLs, and the bridge opens the real
// gateway connection through the proxy tunnel and relays frames and close codes both ways.
// Only URLs Discord gave us are reachable through it (the path is a random id, not a URL).

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { RESTOptions, ResponseLike } from 'discord.js';
import { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../../src/logger.js';
import type { Transport } from '../../src/proxy.js';

export class GatewayBridge {
  private readonly ids = new Map<string, string>();
  private readonly urls = new Map<string, string>();
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private base = '';

  private constructor(
    private readonly server: Server,
    transport: Transport,
    private readonly logger: Logger,
    private readonly next: RESTOptions['makeRequest'],
  ) {
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'ws://bridge');
      const target = this.urls.get(url.pathname.slice(1));
      socket.on('error', () => socket.destroy());
      if (!target) return void socket.destroy();
      const upstream = new WebSocket(`${target}${url.search}`, { agent: transport.wsAgent(target), perMessageDeflate: false });
      const abandon = () => upstream.terminate();
      socket.once('close', abandon);
      upstream.once('error', (error) => {
        this.logger.warn({ err: error.message }, 'could not reach the Discord gateway through the proxy');
        socket.destroy();
      });
      upstream.once('open', () => {
        socket.off('close', abandon);
        if (socket.destroyed) return void upstream.terminate(); // the client gave up while we were connecting
        this.wss.handleUpgrade(req, socket, head, (client) => this.relay(client, upstream));
      });
    });
  }

  /** `next` makes the REST requests themselves (through the proxy). */
  static async open(transport: Transport, logger: Logger, next: RESTOptions['makeRequest']): Promise<GatewayBridge> {
    const server = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const bridge = new GatewayBridge(server, transport, logger, next);
    const address = server.address();
    bridge.base = `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    return bridge;
  }

  /** A REST request, with the gateway URL of GET /gateway/bot pointed at the bridge. */
  readonly makeRequest: RESTOptions['makeRequest'] = async (url, init) => {
    const response = await this.next(url, init);
    if (!response.ok || !new URL(url).pathname.endsWith('/gateway/bot')) return response;
    const data = (await response.json()) as { url?: unknown };
    if (typeof data.url === 'string') data.url = this.local(data.url);
    const text = JSON.stringify(data);
    const replaced: ResponseLike = {
      body: null,
      bodyUsed: false,
      headers: response.headers,
      status: response.status,
      statusText: response.statusText,
      ok: response.ok,
      json: async () => data,
      text: async () => text,
      arrayBuffer: async () => new TextEncoder().encode(text).buffer as ArrayBuffer,
    };
    return replaced;
  };

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** The bridge URL standing for one gateway URL. */
  private local(target: string): string {
    let id = this.ids.get(target);
    if (!id) {
      id = randomBytes(12).toString('base64url');
      this.ids.set(target, id);
      this.urls.set(id, target);
    }
    return `${this.base}/${id}`;
  }

  private relay(client: WebSocket, upstream: WebSocket): void {
    upstream.on('message', (data, binary) => {
      let frame = data as Buffer;
      // READY names the URL to resume on; it must lead back through the bridge too.
      if (!binary && frame.includes('resume_gateway_url')) {
        const payload = JSON.parse(String(frame)) as { d?: { resume_gateway_url?: unknown } };
        if (typeof payload.d?.resume_gateway_url === 'string') payload.d.resume_gateway_url = this.local(payload.d.resume_gateway_url);
        frame = Buffer.from(JSON.stringify(payload));
      }
      client.send(frame, { binary });
    });
    client.on('message', (data, binary) => upstream.send(data as Buffer, { binary }));
    upstream.on('close', (code, reason) => closeWith(client, code, reason));
    client.on('close', (code, reason) => closeWith(upstream, code, reason));
    upstream.on('error', () => client.terminate());
    client.on('error', () => upstream.terminate());
  }
}

/** Passes a close on; a code that may not be sent (1005, 1006: no close frame) becomes a dropped socket, as it was. */
function closeWith(socket: WebSocket, code: number, reason: Buffer): void {
  if (socket.readyState === WebSocket.CLOSED || socket.readyState === WebSocket.CLOSING) return;
  if (code === 1000 || (code >= 3000 && code <= 4999)) socket.close(code, reason);
  else socket.terminate();
}
