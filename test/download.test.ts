import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDownloader, isPrivateAddress } from '../src/media/download.js';
import { MediaStore } from '../src/media/media.js';

let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/big') return res.end(Buffer.alloc(5000));
    if (req.url === '/redirect') return res.writeHead(302, { location: '/cat.png' }).end();
    res.writeHead(200, { 'content-type': 'image/png' }).end('png-bytes');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

const media = new MediaStore();
const policy = { allowPrivateNetworks: false, maxBytes: 1000, timeoutMs: 2000 };

describe('ctx.download', () => {
  it('refuses loopback and private targets unless the operator allows them', async () => {
    const strict = createDownloader(media, policy);
    await expect(strict({ type: 'image', url: `${base}/cat.png` })).rejects.toThrow('127.0.0.1 is a private or loopback address');
    await expect(strict({ type: 'image', url: base.replace('127.0.0.1', 'localhost') + '/cat.png' })).rejects.toThrow(/private or loopback/);
    await expect(strict({ type: 'image', url: 'http://[::1]:1/x' })).rejects.toThrow(/private or loopback/);
    await expect(strict({ type: 'file', url: 'file:///etc/passwd' })).rejects.toThrow('only http(s) URLs are fetched, not file:');
    expect(['10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '::ffff:127.0.0.1', 'fd00::1'].every(isPrivateAddress)).toBe(true);
    expect(['8.8.8.8', '2001:4860:4860::8888'].some(isPrivateAddress)).toBe(false);
  });

  it('fetches allowed URLs, follows redirects, and bounds the size', async () => {
    const open = createDownloader(media, { ...policy, allowPrivateNetworks: true });
    const body = await open({ type: 'image', url: `${base}/redirect` });
    expect(Buffer.from(body.data).toString()).toBe('png-bytes');
    expect(body).toMatchObject({ mime: 'image/png', name: 'cat.png' });
    await expect(open({ type: 'file', url: `${base}/big` })).rejects.toThrow('larger than 1000 bytes');
  });

  it('serves bytes it already has and our own media URLs without any network', async () => {
    media.baseUrl = 'http://sb.example';
    const url = media.register({ data: new Uint8Array([1, 2, 3]), mime: 'image/gif', name: 'a.gif' });
    const strict = createDownloader(media, policy);
    expect(await strict({ type: 'image', url })).toMatchObject({ mime: 'image/gif', name: 'a.gif' });
    expect((await strict({ type: 'file', data: new Uint8Array([9]), mime: 'x/y' })).data).toEqual(new Uint8Array([9]));
  });
});
