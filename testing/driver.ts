// What createTestBot needs from one platform: its wire fake, the config entry that points the real
// adapter at it, a user's message in the platform's own payload, and the fake's record of what the
// adapter sent, read back as replies.

import type { Message } from '../src/index.js';

/** A message a user sends, as `TestBot.send` takes it. */
export interface UserMessage {
  /** The text typed; with `image`, its caption. */
  text?: string;
  /** An image the user sends (PNG bytes, say); the bot reads it with `ctx.download`. */
  image?: Uint8Array;
  /** Clicks a button the bot showed: the button's value (what `Button.value` was, else its label). */
  click?: string;
  /** A direct chat with the bot (the default) or a group chat. */
  chat?: 'direct' | 'group';
  /** In a group: the message @mentions the bot (a `/command` needs none). */
  mention?: boolean;
  /** Who sends it; each platform has a default user. Telegram ids are numbers. */
  user?: { id: string; name?: string };
}

/**
 * One platform message the bot sent, as its chat shows it now: a message edited after it was sent
 * (a streamed reply growing) reports its last edit the platform took, in the place of its send.
 */
export interface Reply {
  /** The platform's chat (channel, peer, group) id it went to. */
  chat: string;
  /** The text as the platform got it: after splitting and escaping (Telegram: its HTML). Empty for media without a caption. */
  text: string;
  /** Buttons on it, by row: what the user can click (`click` a `value`). */
  buttons: { label: string; value?: string; url?: string }[][];
  /** Files attached to it: an image, a document… */
  files: { name: string; mime: string; data: Uint8Array }[];
  /** The platform API call that gave it what it shows: e.g. `sendMessage`, `POST /channels/:id/messages`; for an edited message its last edit (`editMessageText`, `PATCH /channels/:id/messages/:id`). */
  method: string;
  /** The call's parameters exactly as the adapter sent them (Telegram: sendMessage params; Discord: the JSON body). */
  payload: Record<string, unknown>;
}

export interface Driver {
  /** Starts the fake; returns the keys of the `platforms[]` entry (YAML flow map, no braces) for the real adapter, id `test`. */
  start(): Promise<string>;
  /**
   * Hands the user's message to the fake, which delivers it to the adapter (a poll, the gateway, a
   * webhook). Returns how to recognise it once normalized, the chat its replies go to, and `settled`
   * when the adapter has taken it or let it pass by then (a webhook answered after admission).
   */
  inject(input: UserMessage, webhookBase: string): Promise<{ is(message: Message): boolean; chat: string; settled?: boolean }>;
  /** Every message the adapter sent so far, as its chat shows it now (edits applied; drafts are not messages), in the order the fake received the sends. */
  replies(): Reply[];
  stop(): Promise<void>;
}

/** Waits for a fake's webhook delivery and fails loudly when the adapter refused it (a wrong signature, a 503). */
export async function accepted(response: Promise<Response>, platform: string): Promise<void> {
  const answer = await response;
  if (!answer.ok) throw new Error(`createTestBot: the ${platform} webhook answered ${answer.status}: ${await answer.text()}`);
}

/**
 * The edits a platform took, by the message they changed, in the order taken: a message edited as
 * it grew (a streamed reply) is reported as its chat shows it now, not as it was first sent.
 */
export function editsByMessage<E>(edits: readonly E[], messageOf: (edit: E) => string | undefined): Map<string, E[]> {
  const byMessage = new Map<string, E[]>();
  for (const edit of edits) {
    const id = messageOf(edit);
    if (id === undefined) continue;
    const list = byMessage.get(id);
    if (list) list.push(edit);
    else byMessage.set(id, [edit]);
  }
  return byMessage;
}
