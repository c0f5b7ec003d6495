// The example bot. Written once, it runs unchanged on every platform.
// /ping -> pong; /echo <text> -> <text>; /name asks and waits for the answer; in a direct chat any other text -> the same text and an
// image -> the same image. In a group it answers only what is addressed to it: /commands, and
// messages that @mention it (or reply to it), as the sandbox page says.

import { defineBot, isMedia, type Bot } from 'switchboard';

/** The example bot's commands and replies, for a bot that adds its own (bots/stream.ts). */
export function echoBot(bot: Bot): void {
  bot.command('ping', () => 'pong', { description: 'check that the bot is alive' });

  bot.command('echo <text:rest>', (ctx) => ctx.args.text, { description: 'repeat the text' });

  // A conversation (docs/conversations.md): the user's next message here is the answer, even in a group.
  bot.command(
    'name',
    async (ctx) => {
      const answer = await ctx.prompt('What is your name?', { timeout: '2m', timeoutReply: 'No answer; send /name to try again.' });
      if (!answer.timedOut) return `Nice to meet you, ${answer.text}!`;
    },
    { description: 'ask your name and wait for the answer' },
  );

  bot.on('message', (ctx) => {
    if (ctx.message.channel.type !== 'direct' && !ctx.message.mentionsBot) return;
    const media = ctx.message.content.filter(isMedia);
    if (media.length > 0) return ctx.reply(media);
    if (ctx.text.trim() !== '') return ctx.reply(ctx.text);
  });
}

export default defineBot(echoBot);
