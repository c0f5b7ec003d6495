// Card clicks name the chat but not its kind (p2p or group); the kind is remembered from the
// chat's messages. Bounded: past `maxChats` the chat heard from least recently is forgotten
// (and a click there is taken for a group, the common case).

import type { ChannelType } from '../../src/message.js';
import { Eviction } from '../../src/runtime/eviction.js';

export class ChatKinds {
  private readonly kinds = new Map<string, ChannelType>();
  private readonly eviction = new Eviction(this.kinds);

  constructor(private readonly maxChats = 10_000) {}

  get size(): number {
    return this.kinds.size;
  }

  remember(chatId: string, kind: ChannelType): void {
    this.kinds.delete(chatId); // re-inserted last: the most recent
    this.kinds.set(chatId, kind);
    while (this.kinds.size > this.maxChats) this.kinds.delete(this.eviction.oldest()![0]);
  }

  kindOf(chatId: string): ChannelType {
    return this.kinds.get(chatId) ?? 'group';
  }
}
