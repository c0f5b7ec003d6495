// Gateway payloads (MESSAGE_CREATE, a button's INTERACTION_CREATE) -> Message. Works on the raw
// dispatch data, so a message in a channel discord.js has not cached is never lost.

import type { APIAttachment, APIMessageComponentInteraction, APIUser, GatewayMessageCreateDispatchData } from 'discord.js';
import { ChannelType as DiscordChannelType, MessageType } from './sdk.js';
import { plainText, trimLeadingSpace, type Channel, type ChannelType, type MediaType, type Message, type Segment } from '../../src/message.js';
import { isoTime } from '../../src/inbound/iso-time.js';

export interface NormalizeContext {
  botId: string;
  /** The bot's own user id, once READY has told us. */
  selfId: string | undefined;
  /** What discord.js knows about a channel the payload does not describe (a thread, say). */
  channelKind(channelId: string): ChannelType | undefined;
  /** Registers an attachment and returns the Switchboard media URL for it. */
  mediaUrl(attachment: { url: string; mime: string; name?: string }): string;
}

export function normalizeMessage(d: GatewayMessageCreateDispatchData, ctx: NormalizeContext): Message {
  const replyTo = d.type === MessageType.Reply ? d.message_reference?.message_id : undefined;
  const parsed = parseContent(d.content ?? '', d.mentions ?? [], ctx.selfId);
  const content: Segment[] = replyTo ? [{ type: 'quote', messageId: replyTo }, ...parsed.segments] : parsed.segments;
  for (const attachment of d.attachments ?? []) content.push(mediaOf(attachment, ctx));
  const timestamp = isoTime(d.timestamp);
  const channelTypeField = (d as { channel_type?: number }).channel_type;
  const message: Message = {
    id: d.id,
    platform: 'discord',
    botId: ctx.botId,
    channel: channelOf(d.channel_id, d.guild_id, channelTypeField, ctx),
    author: authorOf(d.author, d.member?.nick),
    content,
    text: plainText(content),
    mentionsBot: parsed.mentionsBot || (ctx.selfId !== undefined && d.mentions?.some((m) => m.id === ctx.selfId) === true),
    timestamp: Number.isFinite(timestamp) ? timestamp : Date.now(),
    raw: d,
  };
  if (replyTo) message.replyTo = replyTo;
  return message;
}

/**
 * A button click: a message from the clicking user whose text is the button's value. Its id is
 * not a message id (so replies quote nothing); replyTo names the message the button was on.
 */
export function normalizeClick(interaction: APIMessageComponentInteraction, ctx: NormalizeContext): Message {
  const user = interaction.member?.user ?? interaction.user;
  const text = interaction.data.custom_id;
  return {
    id: `click:${interaction.id}`,
    platform: 'discord',
    botId: ctx.botId,
    channel: channelOf(interaction.channel_id, interaction.guild_id, (interaction.channel as { type?: number } | undefined)?.type, ctx),
    author: user ? authorOf(user, interaction.member?.nick) : { id: '', isBot: false },
    content: [{ type: 'text', text }],
    text,
    replyTo: interaction.message.id,
    mentionsBot: true, // a click on the bot's own button is addressed to the bot
    timestamp: Date.now(),
    raw: withoutToken(interaction),
  };
}

/** The interaction token answers for the bot (edits, follow-ups) for 15 minutes: raw travels to callbacks, so it goes. */
function withoutToken(interaction: APIMessageComponentInteraction): Omit<APIMessageComponentInteraction, 'token'> {
  const { token: _token, ...rest } = interaction;
  return rest;
}

const threadTypes = new Set<number>([DiscordChannelType.PublicThread, DiscordChannelType.PrivateThread, DiscordChannelType.AnnouncementThread]);

function channelOf(id: string, guildId: string | undefined, type: number | undefined, ctx: NormalizeContext): Channel {
  const kind: ChannelType =
    type === DiscordChannelType.DM ? 'direct'
    : type === DiscordChannelType.GroupDM ? 'group'
    : type !== undefined && threadTypes.has(type) ? 'thread'
    : (ctx.channelKind(id) ?? (guildId ? 'channel' : 'direct'));
  return guildId ? { id, type: kind, guildId } : { id, type: kind };
}

function authorOf(user: APIUser, nick: string | null | undefined): Message['author'] {
  const name = nick || user.global_name || user.username;
  const isBot = user.bot === true;
  return name ? { id: user.id, name, username: user.username, isBot } : { id: user.id, username: user.username, isBot };
}

/** Discord's inline tokens: users (<@id>, <@!id>), roles (<@&id>), @everyone and @here. */
const mentionToken = /<@(!|&)?(\d+)>|@everyone|@here/g;

/**
 * Message content -> text and mention segments, a leading @bot dropped (it is how the message was
 * addressed, not what was said). Role mentions keep Discord's `&` prefix in userId, so they render
 * back as role mentions.
 */
function parseContent(raw: string, mentions: readonly APIUser[], selfId: string | undefined): { segments: Segment[]; mentionsBot: boolean } {
  // Every token has an @: most messages have none, and need no scan.
  if (!raw.includes('@')) return { segments: trimLeadingSpace(raw ? [{ type: 'text', text: raw }] : []), mentionsBot: false };
  const segments: Segment[] = [];
  let mentionsBot = false;
  let at = 0;
  const pushText = (text: string) => {
    if (text) segments.push({ type: 'text', text });
  };
  for (const match of raw.matchAll(mentionToken)) {
    pushText(raw.slice(at, match.index));
    at = match.index + match[0].length;
    const id = match[2];
    if (id === undefined) {
      segments.push({ type: 'mention', all: true, name: match[0].slice(1) });
      continue;
    }
    if (match[1] === '&') {
      segments.push({ type: 'mention', userId: `&${id}` });
      continue;
    }
    const own = id === selfId;
    mentionsBot ||= own;
    if (own && segments.every((s) => s.type === 'text' && s.text.trim() === '')) {
      segments.length = 0;
      continue;
    }
    const user = mentions.find((m) => m.id === id);
    const name = user?.global_name || user?.username;
    segments.push({ type: 'mention', userId: id, ...(name ? { name } : {}) });
  }
  pushText(raw.slice(at));
  return { segments: trimLeadingSpace(segments), mentionsBot };
}

function mediaOf(attachment: APIAttachment, ctx: NormalizeContext): Segment {
  const mime = attachment.content_type?.split(';')[0]?.trim() || 'application/octet-stream';
  const type: MediaType = mime.startsWith('image/') ? 'image' : mime.startsWith('audio/') ? 'audio' : mime.startsWith('video/') ? 'video' : 'file';
  const name = attachment.filename || undefined;
  return { type, url: ctx.mediaUrl({ url: attachment.url, mime, name }), mime, ...(name ? { name } : {}) };
}
