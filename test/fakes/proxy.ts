// A minimal HTTP CONNECT proxy on 127.0.0.1 that records every tunnel it opens, for proving
// that a platform's traffic (REST, media, gateways) goes through the configured proxy.

import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';

export class FakeProxy {
  /** "host:port" of every tunnel, with the Proxy-Authorization it carried. */
  readonly tunnels: { target: string; auth: string | undefined }[] = [];
  url = '';
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly credentials?: { user: string; password: string }) {}

  async start(): Promise<this> {
    const server = createServer((_req, res) => res.writeHead(405).end());
    server.on('connect', (req, client: Socket, head: Buffer) => {
      const target = req.url ?? '';
      const auth = req.headers['proxy-authorization'];
      this.tunnels.push({ target, auth });
      const expected = this.credentials && `Basic ${Buffer.from(`${this.credentials.user}:${this.credentials.password}`).toString('base64')}`;
      if (expected && auth !== expected) return void client.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
      const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
      const upstream = connect(port, host.replace(/^\[|\]$/g, ''), () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    this.url = this.credentials ? `http://${this.credentials.user}:${this.credentials.password}@127.0.0.1:${port}` : `http://127.0.0.1:${port}`;
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
