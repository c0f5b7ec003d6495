// The gateway websocket through the operator's proxy. @discordjs/ws 1.2.3 opens its socket with
// `new WebSocket(url, [], { handshakeTimeout })` from `ws` and takes no agent, so it cannot be
// pointed at a proxy directly. Instead it is pointed at this bridge on 127.0.0.1: GET /gateway/bot
// and READY's resume_gateway_url are rewritten to bridge URLs, and the bridge opens the real
// gateway connection through the proxy tunnel and relays frames and close codes both ways.
// Only URLs Discord gave us are reachable through it (the path is a random id, not a URL).

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RESTOptions, ResponseLike } from 'discord.js';
import { WebSocket, WebSocketServer } from '../../src/net/ws.js';
import type { Logger } from '../../src/runtime/logger.js';
import type { Transport } from '../../src/net/proxy.js';

/** What a client may send before its upgrade is answered (a real one sends nothing). */
const earlyLimit = 64 * 1024;

export class GatewayBridge {
  private readonly ids = new Map<string, string>();
  private readonly urls = new Map<string, string>();
  /** Clients whose upstream is still connecting (through a proxy that may take its time). */
  private readonly pending = new Set<{ socket: Duplex; upstream: WebSocket }>();
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
      // Read while the tunnel opens: a paused socket never reports that its client hung up, and
      // the upstream would then be opened for no one. A client sends nothing before our 101.
      let early = head;
      const hold = (chunk: Buffer) => {
        early = Buffer.concat([early, chunk]);
        if (early.length > earlyLimit) socket.destroy(); // not a websocket client: it speaks before the 101
      };
      socket.on('data', hold);
      const upstream = new WebSocket(`${target}${url.search}`, { agent: transport.wsAgent(target), perMessageDeflate: false });
      const pending = { socket, upstream };
      this.pending.add(pending);
      const abandon = () => {
        if (!this.pending.delete(pending)) return;
        upstream.off('error', failed);
        upstream.on('error', () => {}); // terminating a connecting socket reports an error no one needs
        upstream.terminate();
        socket.destroy();
      };
      const failed = (error: Error) => {
        this.logger.warn({ err: error.message }, 'could not reach the Discord gateway through the proxy');
        abandon();
      };
      socket.once('end', abandon);
      socket.once('close', abandon);
      upstream.on('error', failed);
      upstream.once('open', () => {
        this.pending.delete(pending);
        upstream.off('error', failed);
        socket.off('end', abandon);
        socket.off('close', abandon);
        socket.off('data', hold); // the websocket takes over reading in this same tick, so nothing is lost
        if (socket.destroyed) return void upstream.terminate(); // the client gave up while we were connecting
        this.wss.handleUpgrade(req, socket, early, (client) => this.relay(client, upstream));
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
    for (const { socket } of this.pending) socket.destroy(); // and with it, its upstream
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

  /** READY names the URL to resume on; it must lead back through the bridge too. Any other frame passes untouched. */
  private pointResumeHere(frame: Buffer): Buffer {
    if (!frame.includes('resume_gateway_url')) return frame;
    let payload: { t?: unknown; d?: { resume_gateway_url?: unknown } };
    try {
      payload = JSON.parse(String(frame)) as typeof payload;
    } catch {
      return frame;
    }
    if (payload.t !== 'READY' || typeof payload.d?.resume_gateway_url !== 'string') return frame;
    payload.d.resume_gateway_url = this.local(payload.d.resume_gateway_url);
    return Buffer.from(JSON.stringify(payload));
  }

  private relay(client: WebSocket, upstream: WebSocket): void {
    upstream.on('message', (data, binary) => client.send(binary ? data : this.pointResumeHere(data as Buffer), { binary }));
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
