import type { CallbackQuery, Chat, Message as TgMessage, MessageEntity, Update, User } from 'node-telegram-bot-api';
import { plainText, type ChannelType, type MediaType, type Message, type Segment } from '../../src/message.js';

export interface Self {
  id: string;
  username?: string;
}

/** Registers a Telegram file and returns the Switchboard media URL for it (the platform URL embeds the token). */
export type FileUrl = (fileId: string, mime: string, name?: string) => string;

/** The message-bearing part of an update, or undefined for kinds the bot does not handle. */
export function incoming(update: Update): { message: TgMessage } | { callback: CallbackQuery } | undefined {
  if ('message' in update) return { message: update.message };
  if ('channel_post' in update) return { message: update.channel_post };
  if ('callback_query' in update && update.callback_query.data !== undefined && update.callback_query.message) return { callback: update.callback_query };
  return undefined;
}

export function normalize(update: Update, botId: string, self: Self, fileUrl: FileUrl): Message | undefined {
  const source = incoming(update);
  if (!source) return undefined;
  if ('callback' in source) return normalizeButton(source.callback, botId, update);
  const msg = source.message;
  const content: Segment[] = [];
  let mentionsBot = false;
  if (msg.reply_to_message) {
    content.push({ type: 'quote', messageId: String(msg.reply_to_message.message_id) });
    if (self.id && String(msg.reply_to_message.from?.id) === self.id) mentionsBot = true;
  }
  const text = msg.text ?? msg.caption;
  if (text !== undefined) mentionsBot = pushText(content, text, msg.entities ?? msg.caption_entities ?? [], self) || mentionsBot;
  pushMedia(content, msg, fileUrl);
  const segments = stripOwnCommandSuffix(content, self);
  return {
    id: String(msg.message_id),
    platform: 'telegram',
    botId,
    channel: channelOf(msg.chat, msg.is_topic_message ? msg.message_thread_id : undefined),
    author: authorOf(msg.from, msg.sender_chat ?? msg.chat),
    content: segments.content,
    text: plainText(segments.content),
    replyTo: msg.reply_to_message ? String(msg.reply_to_message.message_id) : undefined,
    mentionsBot: mentionsBot || segments.addressed,
    timestamp: msg.date * 1000,
    raw: update,
  };
}

/** A pressed inline button arrives as the text of its value, from the user who pressed it. */
function normalizeButton(query: CallbackQuery, botId: string, update: Update): Message {
  const chat = query.message && 'chat' in query.message ? query.message.chat : undefined;
  const text = query.data ?? '';
  return {
    id: `cb:${query.id}`,
    platform: 'telegram',
    botId,
    channel: chat ? channelOf(chat) : { id: String(query.from.id), type: 'direct' },
    author: authorOf(query.from),
    content: [{ type: 'text', text }],
    text,
    replyTo: query.message ? String(query.message.message_id) : undefined,
    mentionsBot: true,
    timestamp: Date.now(),
    raw: update,
  };
}

function channelOf(chat: Chat, threadId?: number): Message['channel'] {
  const types: Record<Chat['type'], ChannelType> = { private: 'direct', group: 'group', supergroup: 'group', channel: 'channel' };
  const name = chat.title ?? ([chat.first_name, chat.last_name].filter(Boolean).join(' ') || undefined);
  if (threadId !== undefined) return { id: `${chat.id}:${threadId}`, type: 'thread', guildId: String(chat.id), name };
  return { id: String(chat.id), type: types[chat.type] ?? 'group', name };
}

function authorOf(user: User | undefined, chat?: Chat): Message['author'] {
  if (!user) return { id: String(chat?.id ?? ''), name: chat?.title, isBot: false };
  return { id: String(user.id), name: [user.first_name, user.last_name].filter(Boolean).join(' '), username: user.username, isBot: user.is_bot };
}

/** Text with entities -> segments; returns whether the bot is @mentioned. Offsets are UTF-16 units, as JS strings are. */
function pushText(content: Segment[], text: string, entities: readonly MessageEntity[], self: Self): boolean {
  let mentioned = false;
  let at = 0;
  const sorted = entities.filter((e) => e.type === 'mention' || e.type === 'text_mention' || e.type === 'text_link').sort((a, b) => a.offset - b.offset);
  for (const entity of sorted) {
    if (entity.offset < at) continue;
    if (entity.offset > at) content.push({ type: 'text', text: text.slice(at, entity.offset) });
    const body = text.slice(entity.offset, entity.offset + entity.length);
    if (entity.type === 'mention') {
      const username = body.replace(/^@/, '');
      const own = self.username !== undefined && username.toLowerCase() === self.username.toLowerCase();
      mentioned ||= own;
      content.push({ type: 'mention', userId: own ? self.id : undefined, name: username });
    } else if (entity.type === 'text_mention' && entity.user) {
      mentioned ||= String(entity.user.id) === self.id;
      content.push({ type: 'mention', userId: String(entity.user.id), name: body });
    } else if (entity.type === 'text_link' && entity.url) {
      content.push({ type: 'link', url: entity.url, text: body });
    }
    at = entity.offset + entity.length;
  }
  if (at < text.length) content.push({ type: 'text', text: text.slice(at) });
  return mentioned;
}

function pushMedia(content: Segment[], msg: TgMessage, fileUrl: FileUrl): void {
  const add = (type: MediaType, fileId: string, mime: string, name?: string) => content.push({ type, url: fileUrl(fileId, mime, name), mime, name });
  if (msg.photo && msg.photo.length > 0) {
    const largest = msg.photo.reduce((a, b) => ((b.width * b.height > a.width * a.height) ? b : a));
    add('image', largest.file_id, 'image/jpeg');
  }
  if (msg.document) add(msg.document.mime_type?.startsWith('image/') ? 'image' : 'file', msg.document.file_id, msg.document.mime_type ?? 'application/octet-stream', msg.document.file_name);
  if (msg.audio) add('audio', msg.audio.file_id, msg.audio.mime_type ?? 'audio/mpeg', msg.audio.file_name);
  if (msg.voice) add('audio', msg.voice.file_id, msg.voice.mime_type ?? 'audio/ogg');
  if (msg.video) add('video', msg.video.file_id, msg.video.mime_type ?? 'video/mp4', msg.video.file_name);
  if (msg.sticker) add('image', msg.sticker.file_id, msg.sticker.is_video ? 'video/webm' : 'image/webp');
}

/** "/ping@our_bot args" -> "/ping args", so commands route; "/ping@other_bot" is left alone. */
function stripOwnCommandSuffix(content: Segment[], self: Self): { content: Segment[]; addressed: boolean } {
  const first = content.find((s) => s.type !== 'quote');
  if (!self.username || first?.type !== 'text') return { content, addressed: false };
  const match = /^(\/[A-Za-z0-9_]+)@([A-Za-z0-9_]+)/.exec(first.text);
  if (!match || match[2]!.toLowerCase() !== self.username.toLowerCase()) return { content, addressed: false };
  const replaced: Segment = { type: 'text', text: match[1]! + first.text.slice(match[0].length) };
  return { content: content.map((s) => (s === first ? replaced : s)), addressed: true };
}
