// The example bot. Written once, it runs unchanged on every platform.
// /ping -> pong; /echo <text> -> <text>; any other text -> the same text; an image -> the same image.

import { defineBot, isMedia } from 'switchboard';

export default defineBot((bot) => {
  bot.command('ping', () => 'pong', { description: 'check that the bot is alive' });

  bot.command('echo <text:rest>', (ctx) => ctx.args.text, { description: 'repeat the text' });

  bot.on('message', (ctx) => {
    const media = ctx.message.content.filter(isMedia);
    if (media.length > 0) return ctx.reply(media);
    if (ctx.text.trim() !== '') return ctx.reply(ctx.text);
  });
});
