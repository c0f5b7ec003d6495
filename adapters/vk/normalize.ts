// VK's message_new -> Message: conversations by peer_id, quotes from reply_message and
// fwd_messages, photos and documents as Switchboard media URLs, the community's mention
// stripped, and a keyboard button's payload read as what was said.

import { plainText, type Channel, type Message, type Segment } from '../../src/message.js';

/** The body VK POSTs for every callback. */
export interface Callback {
  type: string;
  event_id?: string;
  v?: string;
  object?: unknown;
  group_id?: number;
  secret?: string;
}

interface PhotoSize {
  type?: string;
  url?: string;
  width?: number;
  height?: number;
}

export interface Attachment {
  type: string;
  photo?: { id?: number; owner_id?: number; access_key?: string; sizes?: PhotoSize[]; orig_photo?: PhotoSize };
  doc?: { id?: number; owner_id?: number; title?: string; ext?: string; url?: string; size?: number };
  audio_message?: { link_ogg?: string; link_mp3?: string };
  sticker?: { images?: PhotoSize[] };
  [key: string]: unknown;
}

export interface VkMessage {
  id?: number;
  conversation_message_id?: number;
  date?: number;
  peer_id?: number;
  from_id?: number;
  text?: string;
  payload?: string;
  attachments?: Attachment[];
  reply_message?: VkMessage;
  fwd_messages?: VkMessage[];
}

/** peer_id from 2e9 up is a multi-user chat; below, a dialog with one user (or a community). */
export const chatPeerBase = 2_000_000_000;

/** A conversation of one community: "<groupId>:<peerId>", so a reply goes out with the right token. */
export function channelId(groupId: number, peerId: number): string {
  return `${groupId}:${peerId}`;
}

export function parseChannelId(id: string): { groupId: number; peerId: number } | undefined {
  const match = /^(\d+):(-?\d+)$/.exec(id);
  return match ? { groupId: Number(match[1]), peerId: Number(match[2]) } : undefined;
}

/**
 * A message's id: its VK id where it has one; in chats a community sees id 0, so there it is
 * "c" + conversation_message_id, which is what VK takes to quote in a chat.
 */
export function messageIdOf(m: VkMessage): string {
  return m.id ? String(m.id) : `c${m.conversation_message_id ?? 0}`;
}

/** The message of a message_new event (5.103+: object.message; before, the object itself), or undefined if it has none. */
export function messageOf(callback: Callback): VkMessage | undefined {
  const object = callback.object as (VkMessage & { message?: VkMessage }) | null | undefined;
  const message = typeof object?.message === 'object' ? object.message : object;
  return typeof message === 'object' && message !== null && typeof message.peer_id === 'number' ? message : undefined;
}

export interface NormalizeContext {
  botId: string;
  groupId: number;
  /** Registers a VK file URL and returns the Switchboard media URL whose bytes come from it. */
  mediaUrl(file: { url: string; mime: string; name?: string }): string;
}

export function normalize(m: VkMessage, callback: Callback, ctx: NormalizeContext): Message {
  const peerId = m.peer_id!;
  const content: Segment[] = [];
  const quoted = [...(m.reply_message ? [m.reply_message] : []), ...(m.fwd_messages ?? [])];
  for (const q of quoted) content.push({ type: 'quote', messageId: messageIdOf(q) });
  const said = buttonText(m.payload) ?? m.text ?? '';
  const parsed = parseText(said, ctx.groupId);
  content.push(...parsed.segments);
  for (const attachment of m.attachments ?? []) content.push(mediaOf(attachment, ctx));
  const replyTo = m.reply_message ? messageIdOf(m.reply_message) : undefined;
  const channel: Channel = { id: channelId(ctx.groupId, peerId), type: peerId >= chatPeerBase ? 'group' : 'direct' };
  const fromId = m.from_id ?? peerId;
  return {
    id: messageIdOf(m),
    platform: 'vk',
    botId: ctx.botId,
    channel,
    author: { id: String(fromId), isBot: fromId < 0 },
    content,
    text: plainText(content),
    ...(replyTo ? { replyTo } : {}),
    // Addressed to the bot: named in the text, or answering one of its messages.
    mentionsBot: parsed.mentionsBot || m.reply_message?.from_id === -ctx.groupId,
    timestamp: m.date ? m.date * 1000 : Date.now(),
    raw: withoutSecret(callback),
  };
}

/** The payload as VK sent it, less the secret key (raw travels on to handlers and callbacks). */
function withoutSecret(callback: Callback): Omit<Callback, 'secret'> {
  const { secret: _secret, ...rest } = callback;
  return rest;
}

/**
 * A button we sent carries {"value": "..."}: pressing it means saying that value. VK's own
 * "Start" button in a new dialog carries {"command":"start"}, read as /start.
 */
function buttonText(payload: string | undefined): string | undefined {
  if (!payload) return undefined;
  try {
    const value = JSON.parse(payload) as { value?: unknown; command?: unknown };
    if (typeof value.value === 'string') return value.value;
    if (typeof value.command === 'string' && /^\w+$/.test(value.command)) return `/${value.command}`;
  } catch {
    // not JSON: an ordinary keyboard from elsewhere; the label is the text
  }
  return undefined;
}

/** [id1|Name], [club1|Name], [public1|Name] as VK writes a mention; @club1 / @id1 / @all as typed (not inside an e-mail address). */
const mentionToken = /\[(id|club|public)(\d+)\|([^\]]*)\]|(?<![\w.@])@(?:(id|club|public)(\d+)\b|(all|online)\b)/g;

export function parseText(text: string, groupId: number): { segments: Segment[]; mentionsBot: boolean } {
  const segments: Segment[] = [];
  let mentionsBot = false;
  let at = 0;
  const pushText = (value: string) => {
    if (value) segments.push({ type: 'text', text: value });
  };
  for (const match of text.matchAll(mentionToken)) {
    pushText(text.slice(at, match.index));
    at = match.index + match[0].length;
    if (match[6]) {
      segments.push({ type: 'mention', all: true });
      continue;
    }
    const kind = match[1] ?? match[4]!;
    const number = Number(match[2] ?? match[5]);
    const userId = kind === 'id' ? String(number) : String(-number);
    if (kind !== 'id' && number === groupId) {
      mentionsBot = true;
      // How the message was addressed, not what was said: dropped (with the ", " VK adds after it) when it leads.
      if (segments.every((s) => s.type === 'text' && s.text.trim() === '')) {
        segments.length = 0;
        at += /^[,:]?\s*/.exec(text.slice(at))![0].length;
        continue;
      }
    }
    const name = match[3]?.replace(/^@/, '');
    segments.push({ type: 'mention', userId, ...(name ? { name } : {}) });
  }
  pushText(text.slice(at));
  return { segments, mentionsBot };
}

function mediaOf(a: Attachment, ctx: NormalizeContext): Segment {
  switch (a.type) {
    case 'photo': {
      const size = largest([...(a.photo?.sizes ?? []), ...(a.photo?.orig_photo ? [a.photo.orig_photo] : [])]);
      if (!size?.url) break;
      const name = `photo${a.photo?.owner_id ?? ''}_${a.photo?.id ?? ''}.jpg`;
      return { type: 'image', url: ctx.mediaUrl({ url: size.url, mime: 'image/jpeg', name }), mime: 'image/jpeg', name };
    }
    case 'doc': {
      const doc = a.doc;
      if (!doc?.url) break;
      const name = doc.title || `doc${doc.owner_id ?? ''}_${doc.id ?? ''}${doc.ext ? `.${doc.ext}` : ''}`;
      const mime = mimeOf(doc.ext);
      return { type: mime.startsWith('image/') ? 'image' : 'file', url: ctx.mediaUrl({ url: doc.url, mime, name }), mime, name };
    }
    case 'audio_message': {
      const url = a.audio_message?.link_ogg ?? a.audio_message?.link_mp3;
      if (!url) break;
      const mime = url === a.audio_message?.link_ogg ? 'audio/ogg' : 'audio/mpeg';
      return { type: 'audio', url: ctx.mediaUrl({ url, mime }), mime };
    }
    case 'sticker': {
      const size = largest(a.sticker?.images ?? []);
      if (!size?.url) break;
      return { type: 'image', url: ctx.mediaUrl({ url: size.url, mime: 'image/png', name: 'sticker.png' }), mime: 'image/png', name: 'sticker.png' };
    }
  }
  return { type: 'unknown', raw: a };
}

function largest(sizes: readonly PhotoSize[]): PhotoSize | undefined {
  let best: PhotoSize | undefined;
  for (const size of sizes) if (size.url && (!best || (size.width ?? 0) * (size.height ?? 0) > (best.width ?? 0) * (best.height ?? 0))) best = size;
  return best;
}

const mimes: Record<string, string> = {
  pdf: 'application/pdf', txt: 'text/plain', zip: 'application/zip', png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif',
  webp: 'image/webp', mp3: 'audio/mpeg', ogg: 'audio/ogg', mp4: 'video/mp4', json: 'application/json', csv: 'text/csv', docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
};

export function mimeOf(ext: string | undefined): string {
  return mimes[(ext ?? '').toLowerCase()] ?? 'application/octet-stream';
}
