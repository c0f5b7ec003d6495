// The gateway bridge on its own: what can be reached through it, and that no socket outlives
// the client that asked for it or the bridge itself, even when the proxy is slow to answer.

import { createServer, type Server } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { GatewayBridge } from '../adapters/discord/bridge.js';
import { silentLogger } from '../src/runtime/logger.js';
import { createTransport, type Transport } from '../src/net/proxy.js';
import { sleep, waitFor } from './helpers.js';

/** A websocket server standing for Discord's gateway: counts who reached it. */
class Gateway {
  readonly wss = new WebSocketServer({ noServer: true });
  readonly paths: string[] = [];
  private readonly server: Server = createServer((_req, res) => res.writeHead(404).end());
  url = '';

  async start(): Promise<this> {
    this.server.on('upgrade', (req, socket, head) => {
      this.paths.push(req.url ?? '');
      this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  get open(): number {
    return this.wss.clients.size;
  }

  async stop(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** An HTTP CONNECT proxy that holds every tunnel until released: a slow proxy. */
class GatedProxy {
  readonly pending: (() => void)[] = [];
  readonly sockets = new Set<Socket>();
  private readonly server: NetServer = createNetServer((client) => this.accept(client));
  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  release(): void {
    for (const go of this.pending.splice(0)) go();
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  }

  private accept(client: Socket): void {
    this.track(client);
    client.once('data', (chunk: Buffer) => {
      const target = /^CONNECT (\S+) /.exec(chunk.toString())?.[1] ?? '';
      const port = Number(target.slice(target.lastIndexOf(':') + 1));
      this.pending.push(() => {
        if (client.destroyed) return;
        const upstream = connect(port, '127.0.0.1', () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          upstream.pipe(client);
          client.pipe(upstream);
        });
        this.track(upstream);
        upstream.on('close', () => client.destroy());
        client.on('close', () => upstream.destroy());
      });
    });
  }
}

let gateway: Gateway | undefined;
let proxy: GatedProxy | undefined;
let bridge: GatewayBridge | undefined;
let transport: Transport | undefined;
afterEach(async () => {
  await bridge?.close();
  await transport?.close();
  await proxy?.stop();
  await gateway?.stop();
  gateway = proxy = bridge = transport = undefined;
});

/** A bridge through the gated proxy whose GET /gateway/bot names the fake gateway; returns the bridge URL it hands discord.js. */
async function setup(): Promise<{ url: string; gateway: Gateway; proxy: GatedProxy; bridge: GatewayBridge }> {
  const g = (gateway = await new Gateway().start());
  const p = (proxy = await new GatedProxy().start());
  transport = createTransport(p.url);
  const next = async () => new Response(JSON.stringify({ url: `${g.url}/gateway`, shards: 1 }), { headers: { 'content-type': 'application/json' } });
  const b = (bridge = await GatewayBridge.open(transport, silentLogger(), next as never));
  const answer = await b.makeRequest('https://discord.test/api/v10/gateway/bot', {} as never);
  const { url } = (await answer.json()) as { url: string };
  return { url, gateway: g, proxy: p, bridge: b };
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}

describe('discord gateway bridge', () => {
  it('relays a gateway connection through the proxy, and reaches only the URL Discord named', async () => {
    const { url, gateway: g, proxy: p } = await setup();
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/[\w-]{16}$/);
    const client = new WebSocket(`${url}?v=10&encoding=json`);
    await waitFor(() => p.pending.length === 1, 2000, 'the tunnel request');
    p.release();
    await opened(client);
    expect(g.paths).toEqual(['/gateway?v=10&encoding=json']);
    const [server] = [...g.wss.clients];
    const heard = new Promise((resolve) => server!.once('message', (data) => resolve(String(data))));
    client.send('{"op":2}');
    expect(await heard).toBe('{"op":2}');
    for (const path of ['/', '/nope', `/${encodeURIComponent(`${g.url}/gateway`)}`, `/${url.split('/').pop()}/../x`]) {
      const stranger = new WebSocket(new URL(path, url.replace(/\/[^/]*$/, '/')).href);
      await expect(opened(stranger)).rejects.toThrow();
    }
    expect(p.pending).toHaveLength(0);
    client.terminate();
    await waitFor(() => g.open === 0, 2000, 'the upstream to close with its client');
  });

  it('opens no gateway connection for a client that gave up while the proxy was slow', async () => {
    const { url, gateway: g, proxy: p } = await setup();
    const client = new WebSocket(url);
    client.on('error', () => {});
    await waitFor(() => p.pending.length === 1, 2000, 'the tunnel request');
    client.terminate();
    await sleep(50);
    p.release();
    await sleep(300);
    expect(g.open).toBe(0);
    expect(p.sockets.size).toBe(0);
  });

  it('closes promptly with a tunnel still pending, and that tunnel never reaches the gateway', async () => {
    const { url, gateway: g, proxy: p, bridge: b } = await setup();
    const client = new WebSocket(url);
    client.on('error', () => {});
    await waitFor(() => p.pending.length === 1, 2000, 'the tunnel request');
    const closed = await Promise.race([b.close().then(() => 'closed'), sleep(1000).then(() => 'still open')]);
    expect(closed).toBe('closed');
    p.release();
    await sleep(300);
    expect(g.open).toBe(0);
    expect(p.sockets.size).toBe(0);
  });

  it('drops a client that streams data before its upgrade is answered, instead of buffering it all', async () => {
    const { url, proxy: p } = await setup();
    const { port, pathname } = new URL(url);
    const raw = connect(Number(port), '127.0.0.1');
    raw.on('error', () => {});
    const closed = new Promise((resolve) => raw.once('close', resolve));
    raw.write(`GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await waitFor(() => p.pending.length === 1, 2000, 'the tunnel request');
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < 64 && !raw.destroyed; i++) raw.write(chunk);
    const outcome = await Promise.race([closed.then(() => 'dropped'), sleep(2000).then(() => 'still open')]);
    raw.destroy();
    expect(outcome).toBe('dropped');
  });

  it('passes on a text frame that mentions resume_gateway_url but is not JSON, instead of crashing', async () => {
    const { url, gateway: g, proxy: p } = await setup();
    const client = new WebSocket(url);
    await waitFor(() => p.pending.length === 1, 2000, 'the tunnel request');
    p.release();
    await opened(client);
    const frames: string[] = [];
    client.on('message', (data) => frames.push(String(data)));
    const [server] = [...g.wss.clients];
    server!.send('not json: resume_gateway_url');
    server!.send(JSON.stringify({ op: 0, t: 'READY', s: 1, d: { resume_gateway_url: `${g.url}/resume` } }));
    await waitFor(() => frames.length === 2, 2000, 'both frames');
    expect(frames[0]).toBe('not json: resume_gateway_url');
    expect(JSON.parse(frames[1]!).d.resume_gateway_url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/[\w-]{16}$/);
    client.terminate();
  });
});
