// QQ's passive replies: a message sent with the msg_id of a user's message (and, in groups and
// C2C, a msg_seq) counts as an answer. Active pushes are heavily limited (groups and C2C no
// longer take them at all), so every reply that can be passive is. QQ drops a second message
// with the same msg_id + msg_seq, so msg_seq is derived from the reply item's stable key: a part
// tried again, or sent again after a restart, is not shown twice.

import { idempotencyInt32 } from '../../src/delivery/idempotency.js';
import type { SceneKind } from './channel.js';

/** How long after a user's message QQ accepts replies to it (QQ's send docs). */
const windowMs: Record<SceneKind, number> = {
  group: 5 * 60_000,
  user: 60 * 60_000,
  channel: 5 * 60_000,
  dm: 5 * 60_000,
};

/**
 * QQ documents msg_seq only as an `int` (unset means 1); clients in use send values up to about
 * 10^8. Staying in 1..10^8-1 keeps to what QQ is known to take, and two parts answering one
 * message (QQ allows five) collide with a chance of about 1 in 10^7.
 */
const msgSeqRange = 100_000_000 - 1;

/** The msg_seq of part `part` (counted over the whole item) of the reply item `key`: the same on every try. */
export function msgSeq(key: string, part: number): number {
  return (idempotencyInt32(key, part) % msgSeqRange) + 1;
}

/** Whether replies in this scene carry msg_seq (the guild APIs have none). */
export function numbered(kind: SceneKind): boolean {
  return kind === 'group' || kind === 'user';
}

interface Source {
  channelId: string;
  kind: SceneKind;
  receivedAt: number;
}

export class PassiveReplies {
  private readonly sources = new Map<string, Source>();
  /**
   * The ids in arrival order, from `head` on: pruning reads the oldest here, not by iterating the
   * map, whose iteration walks over every slot deleted before (at the cap, one per message).
   */
  private order: string[] = [];
  private head = 0;

  constructor(private readonly maxEntries = 20_000) {}

  /** Messages remembered now. */
  get size(): number {
    return this.sources.size;
  }

  /** Remembers a received message, so replies to it can be passive. */
  received(messageId: string, channelId: string, kind: SceneKind, now = Date.now()): void {
    if (this.sources.has(messageId)) return;
    this.sources.set(messageId, { channelId, kind, receivedAt: now });
    this.order.push(messageId);
    this.prune(now);
  }

  /**
   * The msg_id a message answering `messageId` in `channelId` carries; undefined when the message
   * is from another chat or too old (the reply then goes out active). A message not remembered
   * (a reply resumed after a restart) is still answered passively in groups and C2C, which take
   * no active messages: QQ refuses the msg_id if it is not valid there.
   */
  source(messageId: string | undefined, channelId: string, kind: SceneKind, now = Date.now()): string | undefined {
    if (messageId === undefined) return undefined;
    const source = this.sources.get(messageId);
    if (!source) return numbered(kind) ? messageId : undefined;
    if (source.channelId !== channelId || now - source.receivedAt > windowMs[source.kind]) return undefined;
    return messageId;
  }

  private prune(now: number): void {
    // Insertion order is arrival order: drop from the front while entries are expired or too many.
    while (this.head < this.order.length) {
      const id = this.order[this.head]!;
      if (this.sources.size <= this.maxEntries && now - this.sources.get(id)!.receivedAt <= windowMs.user) break;
      this.sources.delete(id);
      this.head++;
    }
    // The ids already dropped are cut off once they are the larger part.
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }
}
