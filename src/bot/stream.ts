// What a handler streams: text chunks as they are written, and the segments that end an answer
// (an image, a row of buttons). `ctx.reply(stream)` takes any AsyncIterable of them; `ctx.stream()`
// gives a writer for code that pushes instead of iterating.

import type { OutgoingMessage, Segment } from '../message.js';

/** A text delta, or a segment: text segments add to the text, others are sent after it. */
export type StreamChunk = string | Segment;

export type ReplyStream = AsyncIterable<StreamChunk>;

export function isReplyStream(value: unknown): value is ReplyStream {
  return typeof value === 'object' && value !== null && typeof (value as Partial<ReplyStream>)[Symbol.asyncIterator] === 'function';
}

/**
 * The stream behind a reply item. Kept beside the item, not in it: the item is what the journal
 * and the outbox record, and it is filled with the stream's final content once the stream ends.
 */
const streams = new WeakMap<OutgoingMessage, ReplyStream>();

export function attachStream(item: OutgoingMessage, stream: ReplyStream): OutgoingMessage {
  streams.set(item, stream);
  return item;
}

export function streamOf(item: OutgoingMessage): ReplyStream | undefined {
  return streams.get(item);
}

/** Whether a handler's replies hold a stream still to be read. */
export function hasStreams(replies: readonly OutgoingMessage[]): boolean {
  for (const item of replies) if (streams.has(item)) return true;
  return false;
}

/** The item as it will be recorded, its stream read: `content` its final content. */
export function settleStream(item: OutgoingMessage, content: Segment[]): void {
  item.content = content;
  streams.delete(item);
}

/** `ctx.stream()`: push text as it comes; `end()` once done, or `fail(error)`. */
export interface StreamWriter {
  write(chunk: StreamChunk): void;
  end(): void;
  fail(error: unknown): void;
}

/** A writer and the stream a reader takes from it: chunks wait in order until read. */
export function pushStream(): { writer: StreamWriter; stream: ReplyStream } {
  const queued: StreamChunk[] = [];
  let ended = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const writer: StreamWriter = {
    write(chunk) {
      if (ended) throw new Error('stream.write() after end() or fail()');
      queued.push(chunk);
      notify();
    },
    end() {
      ended = true;
      notify();
    },
    fail(error) {
      if (ended) return;
      ended = true;
      failure = { error };
      notify();
    },
  };
  const stream: ReplyStream = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queued.length > 0) yield queued.shift()!;
        if (failure) throw failure.error;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  return { writer, stream };
}
