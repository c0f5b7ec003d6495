// QQ's passive replies: a message sent with the msg_id of a user's message (and, in groups and
// C2C, an increasing msg_seq) counts as an answer. Active pushes are heavily limited (groups and
// C2C no longer take them at all), so every reply that can be passive is.

import type { SceneKind } from './channel.js';

/** How long after a user's message QQ accepts replies to it (QQ's send docs). */
const windowMs: Record<SceneKind, number> = {
  group: 5 * 60_000,
  user: 60 * 60_000,
  channel: 5 * 60_000,
  dm: 5 * 60_000,
};

interface Source {
  channelId: string;
  kind: SceneKind;
  receivedAt: number;
  /** The last msg_seq used for a reply to this message. */
  seq: number;
}

export interface PassiveRef {
  msg_id: string;
  /** Present for groups and C2C; the guild APIs have no msg_seq. */
  msg_seq?: number;
}

export class PassiveReplies {
  private readonly sources = new Map<string, Source>();

  constructor(private readonly maxEntries = 20_000) {}

  /** Remembers a received message, so replies to it can be passive. */
  received(messageId: string, channelId: string, kind: SceneKind, now = Date.now()): void {
    if (this.sources.has(messageId)) return;
    this.sources.set(messageId, { channelId, kind, receivedAt: now, seq: 0 });
    this.prune(now);
  }

  /**
   * The msg_id/msg_seq for the next message answering `messageId` in `channelId`; undefined
   * when the message is unknown, from another chat, or too old (the reply then goes out active).
   */
  next(messageId: string | undefined, channelId: string, now = Date.now()): PassiveRef | undefined {
    if (messageId === undefined) return undefined;
    const source = this.sources.get(messageId);
    if (!source || source.channelId !== channelId || now - source.receivedAt > windowMs[source.kind]) return undefined;
    source.seq += 1;
    return source.kind === 'group' || source.kind === 'user' ? { msg_id: messageId, msg_seq: source.seq } : { msg_id: messageId };
  }

  private prune(now: number): void {
    // Insertion order is arrival order: drop from the front while entries are expired or too many.
    for (const [id, source] of this.sources) {
      if (this.sources.size <= this.maxEntries && now - source.receivedAt <= windowMs.user) break;
      this.sources.delete(id);
    }
  }
}
