// A streamed answer on Lark: an interactive card updated as it grows. The first update sends the
// card (a reply to the message answered where there is one); later ones replace its content with
// PATCH /open-apis/im/v1/messages/:message_id; the last one adds the answer's buttons as card
// actions. Images and files follow as messages of their own. docs/platforms/lark.md says why the
// card patch, and not CardKit's streaming cards.

import type { Streaming } from '../../src/adapter.js';
import { editedStreaming } from '../../src/delivery/live.js';
import type { Button, Delivery, OutgoingMessage } from '../../src/message.js';
import type { LarkApi } from './api.js';
import { card, textLimit } from './render.js';

export interface LarkStreamingDeps {
  /** The running adapter's API client; undefined once it stopped. */
  api(): LarkApi | undefined;
  /** The adapter's own send, for what follows the card (and all of it when nothing was shown). */
  send(message: OutgoingMessage): Promise<Delivery>;
}

/** The card a streamed answer shows: shared (update_multi), as a card the app updates must be before and after each update. */
const content = (text: string, rows: Button[][] = []) => JSON.stringify(card(text, rows, true));

export function larkStreaming(deps: LarkStreamingDeps): Streaming {
  const api = () => {
    const client = deps.api();
    if (!client) throw new Error('the Lark platform is not running');
    return client;
  };
  return editedStreaming<string>({
    maxLength: textLimit,
    // The patch API's own limit: 5 updates a second to one message (the chat's 5 a second are paced by the core as well).
    minIntervalMs: 200,
    send: deps.send,
    calls: (message, signal) => {
      const replyTo = message.replyTo?.startsWith('om_') ? message.replyTo : undefined;
      return {
        create: async (text) => api().send(message.to.channelId, { msg_type: 'interactive', content: content(text) }, { replyTo, signal }),
        edit: async (id, text, rows) => api().patch(id, content(text, rows), signal),
        idOf: (id) => id,
      };
    },
  });
}
