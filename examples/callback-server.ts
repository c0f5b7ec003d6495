// A Switchboard callback server written the way koipy's docs write theirs (docs/callbacks.md):
// each handler takes the payload, changes its own part and answers with the whole of it.
// It blocks a user, adds an image to /cat and upper-cases the answer to /echo.
// Run: CALLBACK_SECRET=whsec_... CALLBACK_PORT=8080 npx tsx examples/callback-server.ts
// and point the stages at it:
//   callbacks: { onMessage: http://127.0.0.1:8080/onMessage, onResult: http://127.0.0.1:8080/onResult }
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import Koa, { type Context } from 'koa';
import { Webhook } from 'standardwebhooks';

const blocked = new Set(['mallory']); // author ids that may not use the bot
const cat = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64'); // 1x1 PNG
type Segment = { type: string; text?: string };
type Payload = { stage: string; message: { author: { id: string } }; request?: { command: string | null }; result?: { replies: { content: Segment[] }[] } };

function onMessage(ctx: Context, data: Payload): void {
  if (blocked.has(data.message.author.id)) {
    ctx.status = 403; // stop here; the user sees the text
    ctx.body = 'You are blocked from using this bot.';
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

export function createApp(secret = process.env.CALLBACK_SECRET): Koa {
  const webhook = secret ? new Webhook(secret) : undefined;
  return new Koa().use(async (ctx) => {
    let raw = '';
    ctx.req.setEncoding('utf8');
    for await (const chunk of ctx.req) raw += chunk;
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
