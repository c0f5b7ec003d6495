// A streamed answer on Lark: an interactive card updated as it grows. The first update sends the
// card (a reply to the message answered where there is one); later ones replace its content with
// PATCH /open-apis/im/v1/messages/:message_id; the last one adds the answer's buttons as card
// actions. Images and files follow as messages of their own. docs/platforms/lark.md says why the
// card patch, and not CardKit's streaming cards.

import type { LiveMessage, Streaming } from '../../src/adapter.js';
import { EditedMessage } from '../../src/delivery/live.js';
import type { Delivery, OutgoingMessage, Segment } from '../../src/message.js';
import type { LarkApi } from './api.js';
import { card, textLimit } from './render.js';

export interface LarkStreamingDeps {
  /** The running adapter's API client; undefined once it stopped. */
  api(): LarkApi | undefined;
  /** The adapter's own send, for what follows the card (and all of it when nothing was shown). */
  send(message: OutgoingMessage): Promise<Delivery>;
}

const notRunning = () => new Error('the Lark platform is not running');

export function larkStreaming(deps: LarkStreamingDeps): Streaming {
  return {
    maxLength: textLimit,
    // The patch API's own limit: 5 updates a second to one message (the chat's 5 a second are paced by the core as well).
    minIntervalMs: 200,
    open(message: OutgoingMessage, signal: AbortSignal): LiveMessage {
      const replyTo = message.replyTo?.startsWith('om_') ? message.replyTo : undefined;
      const content = (text: string, rows: Parameters<typeof card>[1] = []) => JSON.stringify(card(text, rows, true));
      const api = () => {
        const client = deps.api();
        if (!client) throw notRunning();
        return client;
      };
      return new EditedMessage<string>({
        create: async (text) => api().send(message.to.channelId, { msg_type: 'interactive', content: content(text) }, { replyTo, signal }),
        edit: async (id, text, rows) => api().patch(id, content(text, rows), signal),
        idOf: (id) => id,
        send: (segments: Segment[], whole) => deps.send({ ...message, content: segments, replyTo: whole ? message.replyTo : undefined }),
      });
    },
  };
}
