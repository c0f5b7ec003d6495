// The ceiling of the inbound rows: node:http reading each request's body and answering 200, no
// check, no parse, no store.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { reached } from './gateway-sut.js';

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    Buffer.concat(chunks);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
    reached();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`));
