// A Switchboard callback server (docs/callbacks.md): blocks a user, adds an image, rewrites an answer.
// Run: CALLBACK_SECRET=whsec_... CALLBACK_PORT=8080 npx tsx examples/callback-server.ts
// and point the stages at it: callbacks: { onMessage: http://127.0.0.1:8080/, onResult: http://127.0.0.1:8080/ }
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import Koa from 'koa';
import { Webhook } from 'standardwebhooks';

const blocked = new Set(['mallory']); // author ids that may not use the bot
const cat = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64'); // 1x1 PNG
type Segment = { type: string; text?: string };
type Payload = { stage: string; message: { author: { id: string } }; request?: { command: string | null }; result?: { replies: { content: Segment[] }[] } };

export function createApp(secret = process.env.CALLBACK_SECRET): Koa {
  const webhook = secret ? new Webhook(secret) : undefined;
  return new Koa().use(async (ctx) => {
    let raw = '';
    ctx.req.setEncoding('utf8');
    for await (const chunk of ctx.req) raw += chunk;
    let event: Payload;
    try {
      event = (webhook ? webhook.verify(raw, ctx.headers as Record<string, string>) : JSON.parse(raw)) as Payload;
    } catch {
      ctx.status = 401; // bad or missing signature. An empty body: Switchboard stops the message silently
      ctx.body = '';
      return;
    }
    if (event.stage === 'onMessage' && blocked.has(event.message.author.id)) {
      ctx.status = 403; // stop here; the user sees the text
      ctx.body = 'You are blocked from using this bot.';
    } else if (event.stage === 'onResult' && event.request?.command === 'cat') {
      ctx.type = 'image/png'; // 200 + image: the bot's replies go out, then this picture
      ctx.body = cat;
    } else if (event.stage === 'onResult' && event.request?.command === 'echo') {
      const upper = (s: Segment) => (s.type === 'text' ? { ...s, text: s.text!.toUpperCase() } : s);
      ctx.body = { replies: event.result!.replies.map((r) => ({ ...r, content: r.content.map(upper) })) }; // 200 + JSON: merged into the result
    } else {
      ctx.status = 204; // go on unchanged
    }
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
