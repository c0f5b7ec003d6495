// QQ message events (guild @-messages, guild DMs, group @-messages, C2C) -> Message.

import { plainText, trimLeadingSpace, type Channel, type MediaType, type Message, type Segment } from '../../src/message.js';
import { channelIdOf, type Scene } from './channel.js';
import { isoTime } from '../../src/inbound/iso-time.js';

/** What QQ sends on the gateway and to the webhook alike. */
export interface Payload {
  id?: string;
  op: number;
  d?: unknown;
  s?: number;
  t?: string;
}

export interface Attachment {
  content_type?: string;
  filename?: string;
  url?: string;
  size?: number;
  width?: number;
  height?: number;
}

interface GuildUser {
  id?: string;
  username?: string;
  bot?: boolean;
}

interface EventMessage {
  id: string;
  content?: string;
  timestamp?: string;
  attachments?: Attachment[];
  message_reference?: { message_id?: string };
  // guild scenes
  channel_id?: string;
  guild_id?: string;
  author?: GuildUser & { member_openid?: string; user_openid?: string };
  member?: { nick?: string };
  mentions?: GuildUser[];
  // group scene
  group_openid?: string;
}

/** The events that carry a user's message, and which scene each belongs to. */
const messageEvents = {
  AT_MESSAGE_CREATE: 'channel',
  MESSAGE_CREATE: 'channel',
  DIRECT_MESSAGE_CREATE: 'dm',
  GROUP_AT_MESSAGE_CREATE: 'group',
  GROUP_MESSAGE_CREATE: 'group',
  C2C_MESSAGE_CREATE: 'user',
} as const;

/** Events in which QQ delivers the message because the bot was @-mentioned. */
const atEvents = new Set(['AT_MESSAGE_CREATE', 'GROUP_AT_MESSAGE_CREATE']);

export interface Incoming {
  /** The message id: QQ may push the same message more than once (and a private bot gets a guild @-message as both MESSAGE_CREATE and AT_MESSAGE_CREATE). */
  key: string;
  scene: Scene;
  event: string;
  message: EventMessage;
}

/** The message a payload carries, or undefined for events the bot does not handle (or a malformed one). */
export function incoming(payload: Payload): Incoming | undefined {
  const event = payload.t;
  if (payload.op !== 0 || !event || !(event in messageEvents)) return undefined;
  const d = payload.d as EventMessage | undefined;
  if (typeof d !== 'object' || d === null || typeof d.id !== 'string' || d.id === '') return undefined;
  const scene = sceneOfEvent(messageEvents[event as keyof typeof messageEvents], d);
  return scene && { key: d.id, scene, event, message: d };
}

function sceneOfEvent(kind: 'channel' | 'dm' | 'group' | 'user', d: EventMessage): Scene | undefined {
  switch (kind) {
    case 'channel':
      return d.channel_id ? { kind, channelId: String(d.channel_id) } : undefined;
    case 'dm':
      return d.guild_id ? { kind, guildId: String(d.guild_id) } : undefined;
    case 'group':
      return d.group_openid ? { kind, openid: d.group_openid } : undefined;
    case 'user': {
      const openid = d.author?.user_openid ?? d.author?.id;
      return openid ? { kind, openid } : undefined;
    }
  }
}

export interface NormalizeContext {
  botId: string;
  /** The bot's own user id in guilds, once known (READY or /users/@me). */
  selfId: string | undefined;
  /** Registers an attachment and returns the Switchboard media URL for it. */
  mediaUrl(attachment: { url: string; mime: string; name?: string }): string;
}

export function normalize(incoming: Incoming, payload: Payload, ctx: NormalizeContext): Message {
  const { scene, event, message: d } = incoming;
  const guild = scene.kind === 'channel' || scene.kind === 'dm';
  const replyTo = d.message_reference?.message_id || undefined;
  const parsed = parseContent(d.content ?? '', guild, d, ctx.selfId);
  const content: Segment[] = replyTo ? [{ type: 'quote', messageId: replyTo }, ...parsed.segments] : parsed.segments;
  for (const attachment of d.attachments ?? []) {
    const media = mediaOf(attachment, ctx);
    if (media) content.push(media);
  }
  const timestamp = isoTime(d.timestamp ?? '');
  return {
    id: d.id,
    platform: 'qq',
    botId: ctx.botId,
    channel: channelOf(scene, d),
    author: authorOf(scene, d),
    content,
    text: plainText(content),
    replyTo,
    mentionsBot: atEvents.has(event) || parsed.mentionsBot,
    timestamp: Number.isFinite(timestamp) ? timestamp : Date.now(),
    raw: payload,
  };
}

/** The last known id as a set: made once, not per message. */
let known: { id: string; ids: Set<string> } | undefined;

/** Who "the bot" is in this message: its known id, else the bot users QQ lists as mentioned in an @-event. */
function ownIds(d: EventMessage, selfId: string | undefined): Set<string> {
  if (selfId) {
    if (known?.id !== selfId) known = { id: selfId, ids: new Set([selfId]) };
    return known.ids;
  }
  return new Set((d.mentions ?? []).filter((m) => m.bot && m.id).map((m) => String(m.id)));
}

const mentionToken = /<@!?([A-Za-z0-9_-]+)>|@everyone/g;

/**
 * QQ's embedded format (`<@user>`, `<@!user>`, `@everyone`) -> text and mention segments, the
 * leading @bot dropped. Guild content arrives with & < > escaped; groups and C2C arrive plain
 * (with the @bot already removed by QQ, leaving a leading space).
 */
function parseContent(raw: string, guild: boolean, d: EventMessage, selfId: string | undefined): { segments: Segment[]; mentionsBot: boolean } {
  const segments: Segment[] = [];
  // Most messages mention no one (QQ strips the @bot of group and C2C messages itself).
  if (!raw.includes('<@') && !raw.includes('@everyone')) {
    const value = guild ? unescape(raw) : raw;
    if (value) segments.push({ type: 'text', text: value });
    return { segments: trimLeadingSpace(segments), mentionsBot: false };
  }
  const mentions = d.mentions ?? [];
  const selfIds = ownIds(d, selfId);
  let mentionsBot = false;
  let at = 0;
  const pushText = (text: string) => {
    const value = guild ? unescape(text) : text;
    if (value) segments.push({ type: 'text', text: value });
  };
  for (const match of raw.matchAll(mentionToken)) {
    pushText(raw.slice(at, match.index));
    at = match.index + match[0].length;
    const userId = match[1];
    if (userId === undefined) {
      segments.push({ type: 'mention', all: true });
      continue;
    }
    const own = selfIds.has(userId);
    mentionsBot ||= own;
    // The leading @bot is how the message was addressed, not part of what was said.
    if (own && segments.every((s) => s.type === 'text' && s.text.trim() === '')) {
      segments.length = 0;
      continue;
    }
    const name = mentions.find((m) => m.id === userId)?.username;
    segments.push({ type: 'mention', userId, ...(name ? { name } : {}) });
  }
  pushText(raw.slice(at));
  return { segments: trimLeadingSpace(segments), mentionsBot };
}

function unescape(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function mediaOf(attachment: Attachment, ctx: NormalizeContext): Segment | undefined {
  if (!attachment.url) return undefined;
  // Guild attachments come without a scheme ("gchat.qpic.cn/...").
  const url = /^https?:\/\//i.test(attachment.url) ? attachment.url : `https://${attachment.url.replace(/^\/+/, '')}`;
  const declared = attachment.content_type ?? '';
  const type: MediaType = declared.startsWith('image/') ? 'image' : declared.startsWith('video/') ? 'video' : declared === 'voice' || declared.startsWith('audio/') ? 'audio' : 'file';
  const mime = declared.includes('/') ? declared : type === 'audio' ? 'audio/silk' : 'application/octet-stream';
  const name = attachment.filename || undefined;
  return { type, url: ctx.mediaUrl({ url, mime, name }), mime, ...(name ? { name } : {}) };
}

function channelOf(scene: Scene, d: EventMessage): Channel {
  const id = channelIdOf(scene);
  switch (scene.kind) {
    case 'group':
      return { id, type: 'group' };
    case 'user':
      return { id, type: 'direct' };
    case 'channel':
      return { id, type: 'channel', ...(d.guild_id ? { guildId: String(d.guild_id) } : {}) };
    case 'dm':
      return { id, type: 'direct', guildId: scene.guildId };
  }
}

function authorOf(scene: Scene, d: EventMessage): Message['author'] {
  const author = d.author ?? {};
  if (scene.kind === 'group') return { id: author.member_openid ?? author.id ?? '', isBot: false };
  if (scene.kind === 'user') return { id: author.user_openid ?? author.id ?? '', isBot: false };
  return {
    id: String(author.id ?? ''),
    name: d.member?.nick || author.username,
    ...(author.username ? { username: author.username } : {}),
    isBot: author.bot === true,
  };
}
