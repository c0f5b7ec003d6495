// (c) grammY's webhookCallback on koa with the same echo.
import Router from '@koa/router';
import { Bot, webhookCallback } from 'grammy';
import Koa from 'koa';
import { env, ready } from './sut.js';

const bot = new Bot(env.token, { client: { apiRoot: env.apiRoot }, botInfo: { id: 999, is_bot: true, first_name: 'Bench', username: 'bench_bot', can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false, can_connect_to_business: false, has_main_web_app: false } as never });
bot.command('ping', (ctx) => ctx.reply('pong'));
bot.command('echo', (ctx) => ctx.reply(ctx.match, { reply_parameters: { message_id: ctx.msg.message_id } }));
bot.on('message:text', (ctx) => ctx.reply(ctx.msg.text));

// grammY's koa adapter reads ctx.request.body, which a body parser fills in.
const router = new Router();
router.post(
  '/webhooks/tg',
  async (ctx: Koa.Context, next: Koa.Next) => {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) chunks.push(chunk);
    (ctx.request as { body?: unknown }).body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    await next();
  },
  webhookCallback(bot, 'koa', { secretToken: env.secret }) as unknown as Koa.Middleware,
);
const app = new Koa().use(router.routes());
const server = app.listen(0, '127.0.0.1', () => ready((server.address() as { port: number }).port));
