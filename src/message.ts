// The normalized types every bot author and adapter share (DESIGN.md, "The normalized message").

import type { Failure } from './delivery/retry.js';

export type ChannelType = 'direct' | 'group' | 'channel' | 'thread';

export interface Channel {
  id: string;
  type: ChannelType;
  guildId?: string;
  name?: string;
}

/** Where a message goes: a channel on one configured platform instance. */
export interface ChannelRef {
  /** Config id of the platform instance, e.g. "tg". */
  botId: string;
  channelId: string;
  type?: ChannelType;
}

export interface Author {
  id: string;
  name?: string;
  username?: string;
  isBot: boolean;
}

export type MediaType = 'image' | 'audio' | 'video' | 'file';

export interface MediaSegment {
  type: MediaType;
  /** Where the bytes can be fetched. For inbound media this is a Switchboard media URL, never a platform URL carrying credentials. */
  url?: string;
  data?: Uint8Array;
  mime?: string;
  name?: string;
}

export interface Button {
  label: string;
  value?: string;
  url?: string;
}

export type Segment =
  | { type: 'text'; text: string }
  | { type: 'mention'; userId?: string; name?: string; all?: boolean }
  | MediaSegment
  | { type: 'quote'; messageId: string }
  | { type: 'link'; url: string; text?: string }
  | { type: 'buttons'; rows: Button[][] }
  | { type: 'unknown'; raw: unknown };

export interface Message {
  id: string;
  /** Platform type, e.g. "telegram". */
  platform: string;
  /** Config id of the platform instance that received it. */
  botId: string;
  channel: Channel;
  author: Author;
  content: Segment[];
  /** Plain-text projection of `content`. */
  text: string;
  replyTo?: string;
  mentionsBot: boolean;
  /** Milliseconds since the epoch. */
  timestamp: number;
  /** The platform payload, untouched. */
  raw: unknown;
}

export interface OutgoingMessage {
  to: ChannelRef;
  content: Segment[];
  /** Message id to quote, where the platform allows. */
  replyTo?: string;
  /** Id of the inbound message whose handling produced this one (set by the pipeline; for request/response platforms). */
  inResponseTo?: string;
}

/** What a bot author may pass wherever content is expected. */
export type Content = string | Segment | readonly Segment[];

export interface Delivery {
  ok: boolean;
  /** Platform message ids, one per platform message sent. */
  ids: string[];
  error?: string;
  /** From an adapter: what kind of failure it was, which decides whether the core tries again. Without one, a failure is final. */
  failure?: Failure;
  /** Milliseconds spent delivering. */
  ms: number;
  /** A streamed reply shown as it grew: the update calls made. */
  edits?: number;
}

/** Times one send: push the platform's message ids as they are sent, then end with `done()` or `done(error, failure)`. */
export function startDelivery(): { ids: string[]; done(error?: string, failure?: Failure): Delivery } {
  const started = performance.now();
  const ids: string[] = [];
  return {
    ids,
    // Literals, not conditional spreads: this runs for every reply.
    done: (error, failure) => {
      const ms = performance.now() - started;
      if (error === undefined) return { ok: true, ids, ms };
      return failure ? { ok: false, ids, ms, error, failure } : { ok: false, ids, ms, error };
    },
  };
}

export function toSegments(content: Content): Segment[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (isSegmentList(content)) return content.slice();
  return [content];
}

function isSegmentList(content: Segment | readonly Segment[]): content is readonly Segment[] {
  return Array.isArray(content);
}

/** The message a reply quotes: an explicit quote segment wins over the reply target. */
export function quotedMessageId(content: readonly Segment[], replyTo: string | undefined): string | undefined {
  const quote = content.find((s) => s.type === 'quote');
  return quote?.type === 'quote' ? quote.messageId : replyTo;
}

/** Drops the whitespace an adapter leaves at the start when it strips the leading @bot from a message (in place). */
export function trimLeadingSpace(segments: Segment[]): Segment[] {
  const first = segments[0];
  if (first?.type === 'text') {
    // trimStart removes what \s matches; a text with nothing to trim (most) is kept as it is.
    const trimmed = first.text.trimStart();
    if (!trimmed) segments.shift();
    else if (trimmed !== first.text) segments[0] = { type: 'text', text: trimmed };
  }
  return segments;
}

export function isMedia(segment: Segment): segment is MediaSegment {
  return segment.type === 'image' || segment.type === 'audio' || segment.type === 'video' || segment.type === 'file';
}

/** The plain-text projection used for `Message.text` and for platforms that only take text. */
export function plainText(content: readonly Segment[]): string {
  let out = '';
  for (const segment of content) {
    switch (segment.type) {
      case 'text':
        out += segment.text;
        break;
      case 'mention':
        out += segment.all ? '@all' : `@${segment.name ?? segment.userId ?? ''}`;
        break;
      case 'link':
        out += segment.text ?? segment.url;
        break;
      default:
        break;
    }
  }
  return out;
}

/** Buttons as numbered lines, for platforms with no buttons. */
export function buttonsAsText(rows: readonly Button[][]): string {
  const lines: string[] = [];
  let n = 1;
  for (const row of rows) {
    for (const button of row) {
      lines.push(`${n++}. ${button.label}${button.url ? ` (${button.url})` : button.value && button.value !== button.label ? ` — send "${button.value}"` : ''}`);
    }
  }
  return lines.join('\n');
}
