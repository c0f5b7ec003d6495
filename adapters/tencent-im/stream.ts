// A streamed answer on Tencent Cloud IM: the first update sends the message (openim/sendmsg or
// send_group_msg), later ones replace its body with the admin's modify calls (modify_c2c_msg by
// MsgKey, modify_group_msg by MsgSeq); clients show the change at once (MESSAGE_MODIFIED). The
// last modify adds the buttons as numbered lines; images and files follow as messages of their own.

import type { Streaming } from '../../src/adapter.js';
import { editedStreaming } from '../../src/delivery/live.js';
import type { Delivery, MediaSegment, OutgoingMessage, Segment } from '../../src/message.js';
import { modify, sendOne, type RestApi } from './api.js';
import { sceneOf } from './normalize.js';
import { elementsOf, textLimit } from './render.js';

export interface TimStreamingDeps {
  /** The running adapter's REST client; undefined once it stopped. */
  api(): RestApi | undefined;
  botAccount: string;
  mediaUrl(media: MediaSegment): string;
  /** The adapter's own send, for what follows the text (and all of it when nothing was shown). */
  send(message: OutgoingMessage): Promise<Delivery>;
}

export function timStreaming(deps: TimStreamingDeps): Streaming {
  const body = (content: Segment[]) => elementsOf(content, deps.mediaUrl).elems;
  return editedStreaming<string>({
    maxLength: textLimit,
    // Tencent documents no rate for modifying one message (the modify calls allow 200 a second
    // per app); each modify reaches every member's devices, so two a second at most.
    minIntervalMs: 500,
    send: deps.send,
    calls: (message, signal) => {
      const scene = sceneOf(message.to.channelId);
      const api = () => {
        const client = deps.api();
        if (!scene) throw new Error(`not a Tencent IM channel id: "${message.to.channelId}"`);
        if (!client) throw new Error('the Tencent IM platform is not running');
        return { client, scene };
      };
      return {
        create: async (text) => {
          const { client, scene: to } = api();
          return sendOne(client, deps.botAccount, to, body([{ type: 'text', text }]), [], signal);
        },
        edit: async (id, text, rows) => {
          const { client, scene: to } = api();
          await modify(client, deps.botAccount, to, id, body(rows ? [{ type: 'text', text }, { type: 'buttons', rows }] : [{ type: 'text', text }]), signal);
        },
        idOf: (id) => id,
      };
    },
  });
}
