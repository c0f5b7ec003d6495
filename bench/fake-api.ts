// The Bot API the systems under test talk to: it answers sendMessage at once and tells the
// driver when each reply arrived. Minimal on purpose, so the fake is not what is measured.

import { createServer, type Server } from 'node:http';

export interface FakeApi {
  url: string;
  close(): Promise<void>;
}

const me = { id: 999, is_bot: true, first_name: 'Bench', username: 'bench_bot' };

export async function startFakeApi(token: string, onReply: (text: string, at: number) => void): Promise<FakeApi> {
  let messageId = 1;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      const method = req.url?.slice(`/bot${token}/`.length) ?? '';
      const body = Buffer.concat(chunks).toString('utf8');
      const params = (req.headers['content-type'] ?? '').includes('json') ? (JSON.parse(body || '{}') as Record<string, unknown>) : Object.fromEntries(new URLSearchParams(body));
      let result: unknown = true;
      if (method === 'getMe') result = me;
      else if (method === 'sendMessage') {
        onReply(String(params.text), at);
        result = { message_id: messageId++, date: Math.floor(Date.now() / 1000), chat: { id: Number(params.chat_id), type: 'private' }, from: me, text: params.text };
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, result }));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
