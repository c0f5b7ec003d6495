// Decrypted callbacks -> Message: the group robot's (WebhookUrl, ChatId, From, Text/Image/mixed)
// and the self-built app's (FromUserName, MsgType, Content/PicUrl/MediaId…).

import { plainText, type Channel, type MediaType, type Message, type Segment } from '../../src/message.js';
import { userChannel } from './channel.js';
import { str } from './xml.js';

/** Where an inbound file's bytes are: a URL WeCom sent (robot images) or an app media_id (fetched with /cgi-bin/media/get). */
export type MediaRef = { kind: 'url'; url: string } | { kind: 'media'; mediaId: string };

export interface NormalizeContext {
  botId: string;
  /** Registers a lazily fetched file and returns its Switchboard media URL. */
  mediaUrl(ref: MediaRef, mime: string, name?: string): string;
}

type Fields = Record<string, unknown>;
const obj = (value: unknown): Fields => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : {});
const list = (value: unknown): Fields[] => (Array.isArray(value) ? value.map(obj) : value === undefined ? [] : [obj(value)]);

/** What a robot callback says about its chat: enough to reply there later, even for events that are not messages. */
export interface RobotChat {
  chatId: string;
  webhookUrl: string;
  type: Channel['type'];
}

export function robotChat(xml: Fields): RobotChat | undefined {
  const chatId = str(xml.ChatId);
  const webhookUrl = str(xml.WebhookUrl);
  if (!chatId || !webhookUrl) return undefined;
  const chatType = str(xml.ChatType);
  return { chatId, webhookUrl, type: chatType === 'single' ? 'direct' : chatType === 'group' ? 'group' : 'channel' };
}

/** The robot message kinds the bot handles; events (added to a chat, entered a chat) are not messages. */
export function isRobotMessage(xml: Fields): boolean {
  return ['text', 'image', 'mixed', 'attachment'].includes(str(xml.MsgType) ?? '') && str(xml.MsgId) !== undefined;
}

export function normalizeRobot(xml: Fields, chat: RobotChat, robotName: string | undefined, ctx: NormalizeContext): Message {
  const from = obj(xml.From);
  const content: Segment[] = [];
  const addText = (text: string | undefined) => {
    if (text === undefined) return;
    const value = content.length === 0 ? stripAddress(text, robotName, chat.type !== 'direct') : text;
    if (value) content.push({ type: 'text', text: value });
  };
  const addImage = (url: string | undefined) => {
    if (url) content.push({ type: 'image', url: ctx.mediaUrl({ kind: 'url', url }, 'image/jpeg'), mime: 'image/jpeg' });
  };
  switch (str(xml.MsgType)) {
    case 'text':
      addText(str(obj(xml.Text).Content));
      break;
    case 'image':
      addImage(str(obj(xml.Image).ImageUrl));
      break;
    case 'mixed':
      for (const item of list(obj(xml.MixedMessage).MsgItem)) {
        if (str(item.MsgType) === 'text') addText(str(obj(item.Text).Content));
        else if (str(item.MsgType) === 'image') addImage(str(obj(item.Image).ImageUrl));
      }
      break;
    case 'attachment': {
      // A press of a button the bot sent: its value, as if the user had typed it.
      const action = list(obj(xml.Attachment).Actions)[0];
      addText(str(action?.Value) ?? str(action?.Name));
      break;
    }
  }
  return {
    id: str(xml.MsgId)!,
    platform: 'wecom',
    botId: ctx.botId,
    channel: { id: chat.chatId, type: chat.type },
    author: author(str(from.UserId), str(from.Name), str(from.Alias)),
    content,
    text: plainText(content),
    mentionsBot: chat.type !== 'direct',
    timestamp: Date.now(),
    raw: redactWebhook(xml),
  };
}

/**
 * In a group the robot hears only "@name …"; that address is how the message was sent, not what
 * was said. Without the name, a group message's first @word is taken for it; a single chat needs
 * no address, so there only the configured name is stripped ("@all at 3" stays whole).
 */
function stripAddress(text: string, robotName: string | undefined, group: boolean): string {
  const trimmed = text.replace(/^\s+/, '');
  if (robotName !== undefined) return trimmed.startsWith(`@${robotName}`) ? trimmed.slice(robotName.length + 1).replace(/^\s+/, '') : trimmed;
  return group ? trimmed.replace(/^@\S+\s*/, '') : trimmed;
}

/** The WebhookUrl carries the robot's key: `raw` travels to callbacks and handlers, so the key is masked there. */
function redactWebhook(xml: Fields): Fields {
  const url = str(xml.WebhookUrl);
  return url ? { ...xml, WebhookUrl: url.replace(/([?&]key=)[^&]*/i, '$1********') } : xml;
}

const appMessageTypes = new Set(['text', 'image', 'voice', 'video', 'file', 'link', 'location']);

export function isAppMessage(xml: Fields): boolean {
  return appMessageTypes.has(str(xml.MsgType) ?? '') && str(xml.MsgId) !== undefined && str(xml.FromUserName) !== undefined;
}

export function normalizeApp(xml: Fields, ctx: NormalizeContext): Message {
  const content: Segment[] = [];
  const media = (type: MediaType, mime: string, name?: string) => {
    const mediaId = str(xml.MediaId);
    if (mediaId) content.push({ type, url: ctx.mediaUrl({ kind: 'media', mediaId }, mime, name), mime, ...(name ? { name } : {}) });
  };
  switch (str(xml.MsgType)) {
    case 'text': {
      const text = str(xml.Content);
      if (text) content.push({ type: 'text', text });
      break;
    }
    case 'image':
      media('image', 'image/jpeg');
      break;
    case 'voice':
      media('audio', `audio/${(str(xml.Format) ?? 'amr').toLowerCase()}`);
      break;
    case 'video':
      media('video', 'video/mp4');
      break;
    case 'file':
      media('file', 'application/octet-stream', str(xml.FileName) ?? str(xml.Title));
      break;
    case 'link': {
      const url = str(xml.Url);
      if (url) content.push({ type: 'link', url, ...(str(xml.Title) ? { text: str(xml.Title) } : {}) });
      break;
    }
    case 'location':
      content.push({ type: 'text', text: `[location] ${str(xml.Label) ?? ''} (${str(xml.Location_X) ?? '?'}, ${str(xml.Location_Y) ?? '?'})`.replace('  ', ' ') });
      break;
  }
  const user = str(xml.FromUserName)!;
  const created = Number(str(xml.CreateTime));
  return {
    id: str(xml.MsgId)!,
    platform: 'wecom',
    botId: ctx.botId,
    channel: { id: userChannel(user), type: 'direct' },
    author: author(user, undefined, undefined),
    content,
    text: plainText(content),
    mentionsBot: false,
    timestamp: Number.isFinite(created) && created > 0 ? created * 1000 : Date.now(),
    raw: xml,
  };
}

function author(id: string | undefined, name: string | undefined, alias: string | undefined): Message['author'] {
  return { id: id ?? '', ...(name ? { name } : {}), ...(alias ? { username: alias } : {}), isBot: false };
}
