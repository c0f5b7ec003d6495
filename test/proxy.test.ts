// Proxy tunnels against real (fake) proxies: what an operator reads when the
// proxy is misconfigured, and that a tunnel carries bytes both ways once open.

import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openConnectTunnel } from '../src/net/proxy.js';
import { openSocksTunnel } from '../src/net/socks.js';
import { FakeSocksProxy } from './fakes/proxy.js';

let proxy: FakeSocksProxy | undefined;
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
});

describe('SOCKS5 tunnels', () => {
  it('opens a tunnel that carries bytes both ways, by host name, authenticated', async () => {
    const echo = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const port = (echo.address() as AddressInfo).port;
    proxy = await new FakeSocksProxy({ user: 'op', password: 'pw' }).start();
    const socket = await openSocksTunnel(new URL(proxy.url), 'localhost', port);
    socket.write('hello');
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    expect(chunk.toString()).toBe('hello');
    expect(proxy.tunnels).toEqual([{ target: `localhost:${port}`, user: 'op' }]);
    socket.destroy();
    echo.close();
  });

  it('says when the password is wrong, when credentials are missing, and when the target is unreachable', async () => {
    proxy = await new FakeSocksProxy({ user: 'op', password: 'pw' }).start();
    const url = new URL(proxy.url);
    const wrong = new URL(url);
    wrong.password = 'nope';
    await expect(openSocksTunnel(wrong, '127.0.0.1', 80)).rejects.toThrow('SOCKS proxy refused the username or password');
    const anonymous = new URL(`socks5://${url.host}`);
    await expect(openSocksTunnel(anonymous, '127.0.0.1', 80)).rejects.toThrow('SOCKS proxy requires a username and password');
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await expect(openSocksTunnel(url, '127.0.0.1', port)).rejects.toThrow(`SOCKS proxy could not reach 127.0.0.1:${port}: connection refused`);
  });
});

describe('proxy tunnels that never open', () => {
  it('give up after their timeout, for an http proxy and a SOCKS5 one alike', async () => {
    // A "proxy" that takes the connection and says nothing.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      await expect(openConnectTunnel(new URL(`http://127.0.0.1:${port}`), 'example.test', 443, 200)).rejects.toThrow('proxy did not open the tunnel to example.test:443 within 200 ms');
      await expect(openSocksTunnel(new URL(`socks5://127.0.0.1:${port}`), 'example.test', 443, 200)).rejects.toThrow('SOCKS proxy did not answer in time');
    } finally {
      silent.close();
    }
  });
});
