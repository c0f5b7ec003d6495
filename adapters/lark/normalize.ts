// Lark events -> Message: im.message.receive_v1 (text, post, image, file, audio, video) and
// card.action.trigger (a button click, seen as a message carrying the button's value).

import { plainText, trimLeadingSpace, type ChannelType, type Message, type Segment } from '../../src/message.js';

export interface UserId {
  open_id?: string;
  union_id?: string;
  user_id?: string;
}

export interface Mention {
  /** The placeholder in the content: "@_user_1". */
  key: string;
  id?: UserId;
  name?: string;
}

export interface EventMessage {
  message_id: string;
  root_id?: string;
  parent_id?: string;
  /** Milliseconds, as a string. */
  create_time?: string;
  chat_id: string;
  chat_type?: string;
  message_type: string;
  /** JSON text whose shape depends on message_type. */
  content: string;
  mentions?: Mention[];
}

/** What the SDK's EventDispatcher hands a handler: header and event fields merged into one object. */
export interface ReceiveEvent {
  event_id?: string;
  event_type?: string;
  create_time?: string;
  tenant_key?: string;
  app_id?: string;
  token?: string;
  sender?: { sender_id?: UserId; sender_type?: string; tenant_key?: string };
  message: EventMessage;
}

export interface CardActionEvent {
  event_id?: string;
  create_time?: string;
  token?: string;
  operator?: UserId & { tenant_key?: string };
  action?: { value?: unknown; tag?: string; name?: string; option?: string };
  context?: { open_message_id?: string; open_chat_id?: string };
}

export type ResourceType = 'image' | 'file';

export interface NormalizeContext {
  botId: string;
  /** The bot's own open_id (from /open-apis/bot/v3/info), once known. */
  selfOpenId: string | undefined;
  /** Registers a lazy loader for a message resource and returns its Switchboard media URL. */
  resourceUrl(messageId: string, key: string, type: ResourceType, name?: string): string;
}

export function isReceiveEvent(data: unknown): data is ReceiveEvent {
  const message = (data as ReceiveEvent | undefined)?.message;
  return typeof message === 'object' && message !== null && typeof message.message_id === 'string' && message.message_id !== '' && typeof message.chat_id === 'string' && typeof message.content === 'string';
}

export function normalize(event: ReceiveEvent, ctx: NormalizeContext): Message {
  const { message, sender } = event;
  const mentions = new Map((message.mentions ?? []).map((m) => [m.key, m]));
  const parsed = parseContent(message, mentions, ctx);
  const mentionsBot = ctx.selfOpenId !== undefined && (message.mentions ?? []).some((m) => m.id?.open_id === ctx.selfOpenId);
  const content = mentionsBot ? dropLeadingSelf(parsed, ctx.selfOpenId!) : parsed;
  const replyTo = message.parent_id || undefined;
  if (replyTo) content.unshift({ type: 'quote', messageId: replyTo });
  const timestamp = Number(message.create_time);
  return {
    id: message.message_id,
    platform: 'lark',
    botId: ctx.botId,
    channel: { id: message.chat_id, type: channelType(message.chat_type) },
    author: { id: sender?.sender_id?.open_id ?? '', isBot: sender?.sender_type === 'app' },
    content,
    text: plainText(content),
    replyTo,
    mentionsBot,
    timestamp: Number.isFinite(timestamp) && timestamp > 0 ? timestamp : Date.now(),
    raw: withoutToken(event),
  };
}

/** A button click: the value the button was given (render.ts puts it in `value.value`) becomes the message text. */
export function normalizeCardAction(event: CardActionEvent, ctx: { botId: string; chatType(chatId: string): ChannelType }): Message | undefined {
  const chatId = event.context?.open_chat_id;
  const value = event.action?.value;
  const text = typeof value === 'string' ? value : typeof (value as { value?: unknown } | undefined)?.value === 'string' ? (value as { value: string }).value : undefined;
  if (!chatId || text === undefined || !event.operator?.open_id) return undefined;
  const timestamp = Number(event.create_time);
  const content: Segment[] = [{ type: 'text', text }];
  return {
    // The card's message: a reply to the click answers under the card that was clicked.
    id: event.context?.open_message_id ?? event.event_id ?? '',
    platform: 'lark',
    botId: ctx.botId,
    channel: { id: chatId, type: ctx.chatType(chatId) },
    author: { id: event.operator.open_id, isBot: false },
    content,
    text,
    mentionsBot: true,
    timestamp: Number.isFinite(timestamp) && timestamp > 0 ? Math.floor(timestamp > 1e14 ? timestamp / 1000 : timestamp) : Date.now(),
    raw: withoutToken(event),
  };
}

function channelType(chatType: string | undefined): ChannelType {
  return chatType === 'p2p' ? 'direct' : 'group';
}

/** The raw payload minus the verification token, which is a secret and must not travel on to callbacks. */
function withoutToken<T extends { token?: string }>(event: T): Omit<T, 'token'> {
  const { token: _token, ...rest } = event;
  return rest;
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function parseContent(message: EventMessage, mentions: Map<string, Mention>, ctx: NormalizeContext): Segment[] {
  const body = parseJson(message.content);
  const id = message.message_id;
  const resource = (key: string, type: ResourceType, name?: string) => ctx.resourceUrl(id, key, type, name);
  switch (message.message_type) {
    case 'text':
      return withMentions(str(body.text) ?? '', mentions);
    case 'post':
      return flattenPost(body, mentions, resource);
    case 'image': {
      const key = str(body.image_key);
      return key ? [{ type: 'image', url: resource(key, 'image') }] : [{ type: 'unknown', raw: body }];
    }
    case 'file':
    case 'audio':
    case 'media': {
      const key = str(body.file_key);
      if (!key) return [{ type: 'unknown', raw: body }];
      const name = str(body.file_name);
      const type = message.message_type === 'file' ? 'file' : message.message_type === 'audio' ? 'audio' : 'video';
      return [{ type, url: resource(key, 'file', name), ...(name ? { name } : {}), ...(type === 'audio' ? { mime: 'audio/opus' } : {}) }];
    }
    default:
      return [{ type: 'unknown', raw: { message_type: message.message_type, content: body } }];
  }
}

const placeholder = /@_[A-Za-z0-9_]+/g;

/** "@_user_1 hi" -> a mention segment and the text around it; @_all -> a mention of everyone. */
function withMentions(text: string, mentions: Map<string, Mention>): Segment[] {
  const out: Segment[] = [];
  let at = 0;
  const push = (piece: string) => {
    if (!piece) return;
    const last = out.at(-1);
    if (last?.type === 'text') out[out.length - 1] = { type: 'text', text: last.text + piece };
    else out.push({ type: 'text', text: piece });
  };
  for (const match of text.matchAll(placeholder)) {
    const segment = mentionSegment(match[0], mentions);
    if (!segment) continue;
    push(text.slice(at, match.index));
    out.push(segment);
    at = match.index + match[0].length;
  }
  push(text.slice(at));
  return out;
}

function mentionSegment(key: string, mentions: Map<string, Mention>, name?: string): Segment | undefined {
  if (key === '@_all' || key === 'all') return { type: 'mention', all: true };
  const mention = mentions.get(key);
  if (!mention) return undefined;
  const userId = mention.id?.open_id ?? mention.id?.user_id ?? mention.id?.union_id;
  const label = mention.name || name;
  return { type: 'mention', ...(userId ? { userId } : {}), ...(label ? { name: label } : {}) };
}

type PostElement = { tag?: string; text?: string; href?: string; user_id?: string; user_name?: string; image_key?: string; file_key?: string; emoji_type?: string; language?: string };

/** Rich text (paragraphs of inline elements) -> segments, paragraphs joined by newlines. */
function flattenPost(body: Record<string, unknown>, mentions: Map<string, Mention>, resource: (key: string, type: ResourceType) => string): Segment[] {
  // Received posts carry {title, content}; posts as sent may be wrapped in a locale ({"zh_cn": {...}}).
  const post = Array.isArray(body.content) ? body : (Object.values(body).find((v) => typeof v === 'object' && v !== null && Array.isArray((v as { content?: unknown }).content)) as Record<string, unknown> | undefined);
  if (!post) return [{ type: 'unknown', raw: body }];
  const out: Segment[] = [];
  const text = (t: string) => {
    const last = out.at(-1);
    if (last?.type === 'text') out[out.length - 1] = { type: 'text', text: last.text + t };
    else if (t) out.push({ type: 'text', text: t });
  };
  const title = str(post.title);
  if (title) text(`${title}\n`);
  const paragraphs = (post.content as unknown[]).filter(Array.isArray) as PostElement[][];
  paragraphs.forEach((paragraph, i) => {
    if (i > 0) text('\n');
    for (const element of paragraph) {
      switch (element.tag) {
        case 'text':
          for (const segment of withMentions(element.text ?? '', mentions)) segment.type === 'text' ? text(segment.text) : out.push(segment);
          break;
        case 'a':
          if (element.href) out.push({ type: 'link', url: element.href, ...(element.text ? { text: element.text } : {}) });
          break;
        case 'at': {
          const segment = mentionSegment(element.user_id ?? '', mentions, element.user_name);
          out.push(segment ?? { type: 'mention', ...(element.user_id ? { userId: element.user_id } : {}), ...(element.user_name ? { name: element.user_name } : {}) });
          break;
        }
        case 'img':
          if (element.image_key) out.push({ type: 'image', url: resource(element.image_key, 'image') });
          break;
        case 'media':
          if (element.file_key) out.push({ type: 'video', url: resource(element.file_key, 'file') });
          break;
        case 'emotion':
          text(`:${element.emoji_type ?? ''}:`);
          break;
        case 'code_block':
          text(element.text ?? '');
          break;
        case 'hr':
          text('\n');
          break;
        default:
          if (element.text) text(element.text);
      }
    }
  });
  return out;
}

/** The leading @bot is how the message was addressed, not part of what was said. */
function dropLeadingSelf(content: Segment[], selfOpenId: string): Segment[] {
  const index = content.findIndex((s) => !(s.type === 'text' && s.text.trim() === ''));
  const first = content[index];
  if (first?.type !== 'mention' || first.userId !== selfOpenId) return content;
  return trimLeadingSpace(content.slice(index + 1));
}
