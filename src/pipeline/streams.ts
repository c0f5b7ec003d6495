// A handler's streamed replies, settled right after the handler: read whole where an onResult
// callback must see the answer before it is sent, else sent live, in order with the replies
// around them, each recorded in the outbox once it is done (docs/streaming.md).

import { settleStream, streamOf } from '../bot/stream.js';
import type { Deliverer } from '../delivery/deliverer.js';
import type { OutgoingMessage } from '../message.js';
import type { Logger } from '../runtime/logger.js';
import type { OutboxRecord } from '../store/index.js';

/** Each stream read to its end, its content put in its item: the replies are as if the handler had written them whole. */
export async function collectStreams(replies: readonly OutgoingMessage[], deliverer: Deliverer, log: Logger): Promise<void> {
  for (const item of replies) {
    const stream = streamOf(item);
    if (!stream) continue;
    const end = await deliverer.collect(stream);
    if (end.failed !== undefined) log.error({ err: end.failed }, 'a streamed reply ended early; it is sent with the notice appended');
    settleStream(item, end.content);
  }
}

export interface LiveSending {
  deliverer: Deliverer;
  log: Logger;
  /** Records items of this event in the outbox, from index `first` on. */
  record(items: readonly OutgoingMessage[], first: number): Promise<OutboxRecord[]>;
  /** Marks a recorded item delivered: a stream shown live, with the messages it left. */
  delivered(key: string, ids: string[]): Promise<void>;
}

/** What sending live left: the outbox items recorded (the next index), and the update calls per stream item. */
export interface SentLive {
  recorded: number;
  edits: Map<string, number>;
}

/**
 * The replies sent in order: the ones before a stream go first, then the stream grows in the chat;
 * once it ends it is recorded delivered, with what could not be shown (a failed update) as a new
 * item after it. A crash midway leaves what was shown; the items recorded are sent after the restart.
 */
export async function sendLive(replies: readonly OutgoingMessage[], sending: LiveSending): Promise<SentLive> {
  const { deliverer, log } = sending;
  const edits = new Map<string, number>();
  let recorded = 0;
  let waiting: OutgoingMessage[] = [];
  const flush = async () => {
    if (waiting.length === 0) return;
    const records = await sending.record(waiting, recorded);
    recorded += waiting.length;
    waiting = [];
    await deliverer.sendAll(records, log);
  };
  for (const item of replies) {
    const stream = streamOf(item);
    if (!stream) {
      waiting.push(item);
      continue;
    }
    await flush();
    const started = performance.now();
    const end = await deliverer.stream(item, stream, log);
    if (end.failed !== undefined) log.error({ err: end.failed }, 'a streamed reply ended early; the notice was appended to what was shown');
    settleStream(item, end.content);
    if (!('ids' in end) || end.ids.length === 0) {
      // Nothing shown live (a platform that cannot, or a stream done before its first update): one ordinary item.
      waiting.push(item);
      continue;
    }
    const [record] = await sending.record([item], recorded);
    recorded++;
    edits.set(record!.key, end.edits);
    await sending.delivered(record!.key, end.ids);
    deliverer.shownLive(record!, end.ids, end.edits, performance.now() - started);
    if (end.rest.length > 0) waiting.push({ ...item, content: end.rest, replyTo: undefined });
  }
  await flush();
  return { recorded, edits };
}
