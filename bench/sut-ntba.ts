// (b) The same echo written directly on node-telegram-bot-api 2 and koa, no Switchboard. As shipped
// it calls the Bot API with Node's WHATWG fetch; CLIENT=undici gives it the undici-based fetch
// Switchboard's Telegram adapter gives it (lightFetch), so (b′) compares runtimes, not HTTP clients.
import Router from '@koa/router';
import Koa from 'koa';
import { Bot, nodeFrameworkWebhook } from 'node-telegram-bot-api';
import { lightFetch } from '../src/net/proxy.js';
import { env, ready } from './sut.js';

const bot = new Bot(env.token, { apiRoot: env.apiRoot, ...(process.env.CLIENT === 'undici' ? { fetch: lightFetch() } : {}) });
bot.command('ping', (ctx) => ctx.reply('pong'));
bot.command('echo', (ctx) => ctx.reply(String(ctx.match), { reply_parameters: { message_id: ctx.message!.message_id } }));
bot.on('message', (ctx) => (ctx.message?.text ? ctx.reply(ctx.message.text) : undefined));

const handle = nodeFrameworkWebhook(bot, { secretToken: env.secret });
const router = new Router();
router.post('/webhooks/tg', async (ctx) => {
  ctx.respond = false;
  await handle(ctx.req, ctx.res);
});
const app = new Koa().use(router.routes());
const server = app.listen(0, '127.0.0.1', () => ready((server.address() as { port: number }).port));
