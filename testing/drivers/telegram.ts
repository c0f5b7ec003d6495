// Telegram for createTestBot: the real adapter long-polls FakeTelegram, which records every Bot API call.

import { FakeTelegram } from '../fakes/telegram-api.js';
import { editsByMessage, type Driver, type Reply, type UserMessage } from '../driver.js';

const defaultUser = { id: '42', name: 'Alice' };
const groupChat = { id: -1001234567890, type: 'supergroup', title: 'Test group' };

export function telegramDriver(): Driver {
  const fake = new FakeTelegram();
  const bot = { username: 'switchboard_bot' };
  let nextMessage = 1;
  let nextQuery = 1;
  return {
    async start() {
      await fake.start();
      return `id: test, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}", pollTimeout: 1`;
    },
    async inject(input: UserMessage) {
      const user = input.user ?? defaultUser;
      const from = { id: Number(user.id), is_bot: false, first_name: user.name ?? user.id, username: (user.name ?? user.id).toLowerCase() };
      const chat = input.chat === 'group' ? groupChat : { id: from.id, type: 'private', first_name: from.first_name };
      const date = Math.floor(Date.now() / 1000);
      if (input.click !== undefined) {
        const id = String(nextQuery++);
        fake.pushUpdate({ callback_query: { id, from, chat_instance: '1', data: input.click, message: { message_id: 1, date, chat } } });
        return { is: (m) => m.id === `cb:${id}`, chat: String(chat.id) };
      }
      const messageId = nextMessage++;
      let text = input.text ?? '';
      const entities: object[] = [];
      if (input.mention) {
        text = `@${bot.username} ${text}`;
        entities.push({ type: 'mention', offset: 0, length: bot.username.length + 1 });
      }
      const command = /^\/\w+/.exec(text);
      if (command) entities.push({ type: 'bot_command', offset: 0, length: command[0].length });
      const message: Record<string, unknown> = { message_id: messageId, date, chat, from };
      if (input.image) {
        const fileId = `photo-${messageId}`;
        fake.addFile(fileId, Buffer.from(input.image), `photos/${fileId}.png`);
        message.photo = [{ file_id: fileId, file_unique_id: `u-${fileId}`, width: 1, height: 1 }];
        if (text) Object.assign(message, { caption: text, caption_entities: entities });
      } else Object.assign(message, { text, entities });
      fake.pushUpdate({ message });
      return { is: (m) => m.id === String(messageId) && m.channel.id === String(chat.id), chat: String(chat.id) };
    },
    replies: () => {
      // A message sent in a group and edited as it grew shows its last edit's text and keyboard; a
      // private chat's drafts were previews, and are not among the sends.
      const edits = editsByMessage(fake.edits(), (call) => (call.status === 200 ? `${call.params.chat_id}:${call.params.message_id}` : undefined));
      return fake.delivered().map((sent): Reply => {
        const call = edits.get(`${sent.params.chat_id}:${sent.messageId}`)?.at(-1) ?? sent;
        const markup = call.params.reply_markup ? (JSON.parse(call.params.reply_markup) as { inline_keyboard?: { text: string; callback_data?: string; url?: string }[][] }) : undefined;
        return {
          chat: sent.params.chat_id ?? '',
          text: call.params.text ?? call.params.caption ?? '',
          buttons: (markup?.inline_keyboard ?? []).map((row) => row.map((b) => ({ label: b.text, ...(b.callback_data !== undefined && { value: b.callback_data }), ...(b.url !== undefined && { url: b.url }) }))),
          files: Object.values(sent.files).map((f) => ({ name: f.filename, mime: f.contentType, data: new Uint8Array(f.data) })),
          method: call.method,
          payload: { ...call.params },
        };
      });
    },
    stop: () => fake.stop(),
  };
}
