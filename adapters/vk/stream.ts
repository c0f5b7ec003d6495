// A streamed answer on VK: the first update is a messages.send (to peer_ids, whose answer carries
// the conversation_message_id, the one id a community can edit by in a chat as in a dialog), later
// ones messages.edit it; the last edit adds the answer's buttons as its inline keyboard. Photos and
// documents follow as messages of their own.

import { randomInt } from 'node:crypto';
import type { Streaming } from '../../src/adapter.js';
import { editedStreaming } from '../../src/delivery/live.js';
import type { Delivery, OutgoingMessage } from '../../src/message.js';
import { VkApiError, type VkApi } from './api.js';
import { parseChannelId } from './normalize.js';
import { plan, quoteParams, textLimit } from './render.js';
import type { Community } from './schema.js';

export interface VkStreamingDeps {
  /** The running adapter's API client; undefined once it stopped. */
  api(): VkApi | undefined;
  community(groupId: number): Community | undefined;
  /** The adapter's own send, for what follows the text (and all of it when nothing was shown). */
  send(message: OutgoingMessage): Promise<Delivery>;
}

/** What messages.edit needs, and the id the outbox keeps (message_id, or c<cmid> where VK gives none). */
interface Shown {
  cmid: number;
  id: string;
}

/** 911: keyboard format invalid; 912: the community's bot abilities are off. */
const keyboardRefused = new Set([911, 912]);

export function vkStreaming(deps: VkStreamingDeps): Streaming {
  return editedStreaming<Shown>({
    maxLength: textLimit,
    // VK documents no edit rate; its flood control (error 9) answers edits that come too fast to
    // one message. One edit a second keeps far from it, with the token's 20 calls a second shared.
    minIntervalMs: 1000,
    send: deps.send,
    calls: (message, signal) => {
      const target = parseChannelId(message.to.channelId);
      const community = target && deps.community(target.groupId);
      const call = <T>(method: string, params: Record<string, string | number | undefined>) => {
        const api = deps.api();
        if (!target || !community) throw new Error(`not a channel of this VK platform: "${message.to.channelId}"`);
        if (!api) throw new Error('the VK platform is not running');
        return api.call<T>(method, community.token, { peer_id: target.peerId, ...params }, signal);
      };
      const edit = (shown: Shown, text: string, keyboard?: string) => call<number>('messages.edit', { conversation_message_id: shown.cmid, message: text, keyboard, keep_forward_messages: 1, keep_snippets: 1 });
      return {
        create: async (text) => {
          const quote = quoteParams(message.replyTo, target?.peerId ?? 0);
          // peer_ids, not peer_id: its answer carries the conversation_message_id.
          const [sent] = await call<{ message_id?: number; conversation_message_id: number }[]>('messages.send', { peer_id: undefined, peer_ids: target?.peerId, random_id: randomInt(1, 2 ** 31), message: text, ...quote });
          if (!sent) throw new Error('VK messages.send answered no message');
          return { cmid: sent.conversation_message_id, id: sent.message_id ? String(sent.message_id) : `c${sent.conversation_message_id}` };
        },
        edit: async (shown, text, rows) => {
          if (!rows) return void (await edit(shown, text));
          const [last] = plan([{ type: 'text', text }, { type: 'buttons', rows }]);
          try {
            await edit(shown, last!.text, last!.keyboard);
          } catch (error) {
            // A keyboard VK refuses: the buttons as numbered lines, as the ordinary send does.
            if (!(error instanceof VkApiError && error.code !== undefined && keyboardRefused.has(error.code) && last!.buttonsText)) throw error;
            await edit(shown, `${last!.text}\n${last!.buttonsText}`);
          }
        },
        idOf: (shown) => shown.id,
      };
    },
  });
}
