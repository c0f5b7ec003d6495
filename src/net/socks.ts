// A SOCKS5 client handshake (RFC 1928, with RFC 1929 username/password): opens one TCP
// connection to host:port through the proxy. Host names are always resolved by the proxy, so
// an operator's proxy also answers for DNS the platform's hosts may not resolve to from here.

import { connect, isIPv4, isIPv6, type Socket } from 'node:net';

const VERSION = 0x05;
const NO_AUTH = 0x00;
const USER_PASS = 0x02;
const CONNECT = 0x01;
const replies: Record<number, string> = {
  1: 'general failure',
  2: 'connection not allowed by ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
};

export function openSocksTunnel(proxy: URL, host: string, port: number, timeoutMs = 30_000): Promise<Socket> {
  const user = decodeURIComponent(proxy.username);
  const password = decodeURIComponent(proxy.password);
  const socket = connect(Number(proxy.port) || 1080, proxy.hostname.replace(/^\[|\]$/g, ''));
  socket.setTimeout(timeoutMs);
  const reader = new Reader(socket);
  const handshake = async (): Promise<Socket> => {
    socket.write(Buffer.from(user || password ? [VERSION, 2, NO_AUTH, USER_PASS] : [VERSION, 1, NO_AUTH]));
    const [, method] = await reader.take(2);
    if (method === USER_PASS) {
      const u = Buffer.from(user);
      const p = Buffer.from(password);
      socket.write(Buffer.concat([Buffer.from([0x01, u.length]), u, Buffer.from([p.length]), p]));
      if ((await reader.take(2))[1] !== 0x00) throw new Error('SOCKS proxy refused the username or password');
    } else if (method !== NO_AUTH) {
      throw new Error(user || password ? 'SOCKS proxy accepts none of our authentication methods' : 'SOCKS proxy requires a username and password');
    }
    socket.write(Buffer.concat([Buffer.from([VERSION, CONNECT, 0x00]), address(host), Buffer.from([port >> 8, port & 0xff])]));
    const [, reply, , type] = await reader.take(4);
    if (reply !== 0x00) throw new Error(`SOCKS proxy could not reach ${host}:${port}: ${replies[reply!] ?? `reply ${reply}`}`);
    // The bound address the proxy reports is of no use to us, but must be read past.
    const length = type === 0x01 ? 4 : type === 0x04 ? 16 : (await reader.take(1))[0]!;
    await reader.take(length + 2);
    reader.release();
    socket.setTimeout(0);
    return socket;
  };
  return handshake().catch((error: unknown) => {
    socket.destroy();
    throw error;
  });
}

function address(host: string): Buffer {
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIPv4(bare)) return Buffer.from([0x01, ...bare.split('.').map(Number)]);
  if (isIPv6(bare)) {
    const groups = expandIPv6(bare);
    const bytes = Buffer.alloc(17);
    bytes[0] = 0x04;
    groups.forEach((group, i) => bytes.writeUInt16BE(group, 1 + i * 2));
    return bytes;
  }
  const name = Buffer.from(bare);
  if (name.length > 255) throw new Error(`host name too long for SOCKS: ${bare.slice(0, 40)}…`);
  return Buffer.concat([Buffer.from([0x03, name.length]), name]);
}

function expandIPv6(ip: string): number[] {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  return tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** Reads exact byte counts off a socket during the handshake, then gets out of the way. */
class Reader {
  private buffered = Buffer.alloc(0);
  private wanted: { n: number; resolve: (bytes: Buffer) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    this.settle();
  };
  private readonly onEnd = (error?: Error) => this.fail(error ?? new Error('SOCKS proxy closed the connection during the handshake'));
  private readonly onClose = () => this.onEnd();
  private readonly onTimeout = () => this.fail(new Error('SOCKS proxy did not answer in time'));

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('error', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('timeout', this.onTimeout);
  }

  take(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.wanted = { n, resolve, reject };
      this.settle();
    });
  }

  /** HTTP and TLS clients speak first, so nothing may follow the proxy's reply before they do. */
  release(): void {
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onEnd);
    this.socket.off('close', this.onClose);
    this.socket.off('timeout', this.onTimeout);
    if (this.buffered.length) throw new Error('SOCKS proxy sent data before the connection was used');
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.settle();
  }

  private settle(): void {
    const wanted = this.wanted;
    if (!wanted) return;
    if (this.buffered.length >= wanted.n) {
      this.wanted = undefined;
      const bytes = this.buffered.subarray(0, wanted.n);
      this.buffered = this.buffered.subarray(wanted.n);
      wanted.resolve(bytes);
    } else if (this.failure) {
      this.wanted = undefined;
      wanted.reject(this.failure);
    }
  }
}
