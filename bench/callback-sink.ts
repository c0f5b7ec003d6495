// A callback server that answers 204 at once, in its own process: what is measured is Switchboard's side.
import { createServer } from 'node:http';
import { ready } from './sut.js';

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(204).end());
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => ready((server.address() as { port: number }).port));
