// Minimal HTTP CONNECT and SOCKS5 proxies on 127.0.0.1 that record every tunnel they open, for
// proving that a platform's traffic (REST, media, gateways) goes through the configured proxy.

import { createServer } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';

/** What both fakes share: listening on a free port, a URL with the credentials, and closing every socket. */
abstract class ProxyServer {
  url = '';
  private server: NetServer | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(protected readonly credentials?: { user: string; password: string }) {}

  protected async listen(server: NetServer, scheme: string): Promise<void> {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    this.url = this.credentials ? `${scheme}://${this.credentials.user}:${this.credentials.password}@127.0.0.1:${port}` : `${scheme}://127.0.0.1:${port}`;
    this.server = server;
  }

  protected track(socket: Socket, onError: () => void = () => socket.destroy()): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', onError);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}

export class FakeProxy extends ProxyServer {
  /** "host:port" of every tunnel, with the Proxy-Authorization it carried. */
  readonly tunnels: { target: string; auth: string | undefined }[] = [];
  /** The local port of each upstream connection: what the target sees as its peer's port. */
  readonly upstreamPorts: number[] = [];

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
        this.upstreamPorts.push(upstream.localPort ?? 0);
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      const both = () => {
        client.destroy();
        upstream.destroy();
      };
      this.track(client, both);
      this.track(upstream, both);
    });
    await this.listen(server, 'http');
    return this;
  }
}

/** A SOCKS5 proxy (RFC 1928, username/password per RFC 1929 when given) that records every connection it opens. */
export class FakeSocksProxy extends ProxyServer {
  /** "host:port" of every CONNECT, with the user it authenticated as. */
  readonly tunnels: { target: string; user: string | undefined }[] = [];
  /** The local port of each upstream connection: what the target sees as its peer's port. */
  readonly upstreamPorts: number[] = [];

  async start(): Promise<this> {
    const server = createNetServer((client) => {
      this.track(client);
      void this.serve(client).catch(() => client.destroy());
    });
    await this.listen(server, 'socks5');
    return this;
  }

  private async serve(client: Socket): Promise<void> {
    const { read, done } = reader(client);
    const [, count] = await read(2);
    const methods = [...(await read(count!))];
    const wanted = this.credentials ? 0x02 : 0x00;
    if (!methods.includes(wanted)) return void client.end(Buffer.from([0x05, 0xff]));
    client.write(Buffer.from([0x05, wanted]));
    let user: string | undefined;
    if (this.credentials) {
      const [, userLength] = await read(2);
      user = (await read(userLength!)).toString();
      const [passwordLength] = await read(1);
      const password = (await read(passwordLength!)).toString();
      const ok = user === this.credentials.user && password === this.credentials.password;
      client.write(Buffer.from([0x01, ok ? 0x00 : 0x01]));
      if (!ok) return void client.end();
    }
    const [, , , type] = await read(4);
    const host =
      type === 0x01 ? [...(await read(4))].join('.') : type === 0x03 ? (await read((await read(1))[0]!)).toString() : (await read(16)).toString('hex').replace(/(.{4})(?!$)/g, '$1:');
    const port = (await read(2)).readUInt16BE(0);
    done();
    this.tunnels.push({ target: `${host}:${port}`, user });
    const upstream = connect(port, host);
    this.track(upstream);
    upstream.once('connect', () => {
      this.upstreamPorts.push(upstream.localPort ?? 0);
      client.write(Buffer.from([0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0, 0]));
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once('error', () => client.end(Buffer.from([0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0])));
  }
}

/** Reads exact byte counts off a socket, for the handshake only. */
function reader(socket: Socket) {
  let buffered = Buffer.alloc(0);
  let waiting: (() => void) | undefined;
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    waiting?.();
  };
  socket.on('data', onData);
  return {
    read: async (n: number): Promise<Buffer> => {
      while (buffered.length < n) await new Promise<void>((resolve) => (waiting = resolve));
      const bytes = buffered.subarray(0, n);
      buffered = buffered.subarray(n);
      return bytes;
    },
    /** The handshake is over: the rest of the stream is piped (a client speaks only after our reply). */
    done: () => socket.off('data', onData),
  };
}
