// The example bot. Written once, it runs unchanged on every platform.
// /ping -> pong; /echo <text> -> <text>; in a direct chat any other text -> the same text and an
// image -> the same image. In a group it answers only what is addressed to it: /commands, and
// messages that @mention it (or reply to it), as the sandbox page says.

import { defineBot, isMedia } from 'switchboard';

export default defineBot((bot) => {
  bot.command('ping', () => 'pong', { description: 'check that the bot is alive' });

  bot.command('echo <text:rest>', (ctx) => ctx.args.text, { description: 'repeat the text' });

  bot.on('message', (ctx) => {
    if (ctx.message.channel.type !== 'direct' && !ctx.message.mentionsBot) return;
    const media = ctx.message.content.filter(isMedia);
    if (media.length > 0) return ctx.reply(media);
    if (ctx.text.trim() !== '') return ctx.reply(ctx.text);
  });
});
