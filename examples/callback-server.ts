// A Switchboard callback server written the way koipy's docs write theirs (docs/callbacks.md):
// each handler takes the payload, changes its own part and answers with the whole of it.
// It blocks a user, lets a few users past the per-user limit (docs/limits.md), adds an image
// to /cat and upper-cases the answer to /echo. A body over 10 MiB gets 413, unbuffered.
// Run: CALLBACK_SECRET=whsec_... CALLBACK_PORT=8080 npx tsx examples/callback-server.ts
// and point the stages at it:
//   callbacks: { onMessage: http://127.0.0.1:8080/onMessage, onResult: http://127.0.0.1:8080/onResult }
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import Koa, { type Context } from 'koa';
import { Webhook } from 'standardwebhooks';

const blocked = new Set(['mallory']); // author ids that may not use the bot
const vips = new Set(['vera']); // author ids the per-user limit does not stop
const maxBody = 10 * 1024 * 1024; // Switchboard's default maxRequestSize: it sends nothing larger
const cat = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64'); // 1x1 PNG
type Segment = { type: string; text?: string };
type Payload = { stage: string; message: { author: { id: string } }; limit?: { exceeded: boolean }; request?: { command: string | null }; result?: { replies: { content: Segment[] }[] } };

function onMessage(ctx: Context, data: Payload): void {
  if (blocked.has(data.message.author.id)) {
    ctx.status = 403; // stop here; the user sees the text
    ctx.body = 'You are blocked from using this bot.';
    return;
  }
  if (vips.has(data.message.author.id) && data.limit?.exceeded) {
    data.limit.exceeded = false; // the whole payload back with `exceeded: false`: the message goes on
    ctx.body = data;
    return;
  }
  ctx.type = 'application/json';
  ctx.body = 'null'; // JSON null: go on unchanged
}

function onResult(ctx: Context, data: Payload): void {
  const command = data.request?.command;
  if (command === 'cat') {
    ctx.type = 'image/png'; // the bot's replies go out, then this picture
    ctx.body = cat;
    return;
  }
  if (command === 'echo') {
    const upper = (s: Segment) => (s.type === 'text' ? { ...s, text: s.text!.toUpperCase() } : s);
    for (const reply of data.result!.replies) reply.content = reply.content.map(upper);
  }
  ctx.body = data; // the whole payload back: its `result` is merged, the rest is ignored
}

const handlers: Record<string, (ctx: Context, data: Payload) => void> = { '/onMessage': onMessage, '/onResult': onResult };

/** The body as text, or undefined once it is over maxBody: by Content-Length, else while reading. */
async function readBody(req: Context['req']): Promise<string | undefined> {
  if (Number(req.headers['content-length']) > maxBody) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBody) return undefined; // leaving the loop destroys the request: nothing more is read
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function createApp(secret = process.env.CALLBACK_SECRET): Koa {
  const webhook = secret ? new Webhook(secret) : undefined;
  return new Koa().use(async (ctx) => {
    const raw = await readBody(ctx.req);
    if (raw === undefined) {
      ctx.status = 413;
      ctx.body = '';
      return;
    }
    let data: Payload;
    try {
      data = (webhook ? webhook.verify(raw, ctx.headers as Record<string, string>) : JSON.parse(raw)) as Payload;
    } catch {
      ctx.status = 401; // bad or missing signature. An empty body: Switchboard stops the message silently
      ctx.body = '';
      return;
    }
    const handler = handlers[ctx.path];
    if (handler) handler(ctx, data);
    else ctx.status = 204; // any other stage: go on unchanged
  });
}

export function start(port = Number(process.env.CALLBACK_PORT ?? 8080), secret = process.env.CALLBACK_SECRET): Promise<Server> {
  return new Promise((resolve) => {
    const server = createApp(secret).listen(port, '127.0.0.1', () => resolve(server));
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = await start();
  console.log(`callback server on http://127.0.0.1:${(server.address() as { port: number }).port}/ (signatures ${process.env.CALLBACK_SECRET ? 'required' : 'not checked'})`);
}
