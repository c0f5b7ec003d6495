// A streamed reply, read and shown as it grows: the one policy for every platform. Updates are
// paced through the chat's buckets (each update is a call against the platform's limits) and the
// platform's least interval; whatever arrived while an update waited goes out in the next one, so
// the calls made are about the stream's duration times the allowed rate, not one per chunk.

import type { LiveMessage, Streaming } from '../adapter.js';
import type { ReplyStream, StreamChunk } from '../bot/stream.js';
import type { OutgoingMessage, Segment } from '../message.js';
import type { Logger } from '../runtime/logger.js';
import type { Pacing } from './pacer.js';
import { sleep } from './retry.js';
import { cutIndex } from './text.js';

export interface StreamSettings {
  /** A stream that yields nothing for this long is ended as failed (ms). */
  idleTimeoutMs: number;
  /** Appended to what was shown when a stream fails or stalls. */
  notice: string;
}

export const defaultStreamSettings: StreamSettings = { idleTimeoutMs: 60_000, notice: '(the answer was interrupted)' };

/** What a stream came to. */
export interface StreamEnd {
  /** The whole answer as the user ends up seeing it, the notice included: what the outbox records, onResult and onSent see. */
  content: Segment[];
  /** Why the stream ended early (it threw, stalled, or shutdown came), when it did. */
  failed?: string;
}

/** A stream shown live. */
export interface LiveEnd extends StreamEnd {
  /** The platform messages the stream left in the chat, in order. */
  ids: string[];
  /** Update calls made. */
  edits: number;
  /** What still has to go out as a new message: all of it when nothing was shown, the part after a failed update. */
  rest: Segment[];
}

/** Text (every text chunk, in order) and the other segments a stream yields, kept for the end. */
class Answer {
  text = '';
  readonly tail: Segment[] = [];

  add(chunk: StreamChunk): void {
    if (typeof chunk === 'string') this.text += chunk;
    else if (chunk.type === 'text') this.text += chunk.text;
    else this.tail.push(chunk);
  }

  fail(notice: string): void {
    this.text = this.text ? `${this.text}\n\n${notice}` : notice;
  }

  /** `text` from `from` on, then the tail. */
  content(from = 0): Segment[] {
    const text = this.text.slice(from);
    return text ? [{ type: 'text', text }, ...this.tail] : this.tail.slice();
  }
}

const stalled = Symbol('stalled');
const aborted = Symbol('aborted');

/**
 * Reads `stream` to its end, each chunk to `onChunk`. Resolves with why it ended early (it threw,
 * yielded nothing for `idleMs`, or `signal` aborted), or undefined. Never throws.
 */
async function read(stream: ReplyStream, idleMs: number, signal: AbortSignal, onChunk: (chunk: StreamChunk) => void): Promise<string | undefined> {
  let iterator: AsyncIterator<StreamChunk>;
  try {
    iterator = stream[Symbol.asyncIterator]();
  } catch (error) {
    return (error as Error)?.message ?? String(error);
  }
  let timer: NodeJS.Timeout | undefined;
  // One timer for the whole stream, pushed back at each chunk: no allocation per chunk for it.
  const idle = new Promise<typeof stalled>((resolve) => (timer = setTimeout(resolve, idleMs, stalled)));
  let onAbort: (() => void) | undefined;
  const stop = new Promise<typeof aborted>((resolve) => signal.addEventListener('abort', (onAbort = () => resolve(aborted)), { once: true }));
  try {
    for (;;) {
      if (signal.aborted) return 'shutting down';
      const next = await Promise.race([iterator.next(), idle, stop]);
      if (next === stalled) return `the stream yielded nothing for ${idleMs} ms`;
      if (next === aborted) return 'shutting down';
      if (next.done) return undefined;
      timer?.refresh();
      onChunk(next.value);
    }
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort!);
    // A stream abandoned midway is told so (a generator's finally runs); one stuck in an await never settles it.
    iterator.return?.().catch(() => {});
  }
}

/** Reads a stream to its end and gives its whole content: for a platform that cannot show it growing, or an onResult that must see it first. */
export async function collect(stream: ReplyStream, settings: StreamSettings, signal: AbortSignal): Promise<StreamEnd> {
  const answer = new Answer();
  const failed = await read(stream, settings.idleTimeoutMs, signal, (chunk) => answer.add(chunk));
  if (failed !== undefined) answer.fail(settings.notice);
  return failed === undefined ? { content: answer.content() } : { content: answer.content(), failed };
}

export interface LiveDeps {
  pacer: Pacing;
  settings: StreamSettings;
  signal: AbortSignal;
  log: Logger;
}

/** Shows `stream` in `item.to` as it grows, through the platform's `streaming`. Never throws. */
export async function streamLive(streaming: Streaming, item: OutgoingMessage, stream: ReplyStream, deps: LiveDeps): Promise<LiveEnd> {
  const { pacer, settings, signal, log } = deps;
  const max = streaming.maxLength;
  const minGap = streaming.minIntervalMs ?? 0;
  const answer = new Answer();
  const ids: string[] = [];
  let edits = 0;
  /** Where the message being shown starts in the answer's text, and how much of it the user sees. */
  let from = 0;
  let shown = 0;
  let live: LiveMessage | undefined;
  /** Set when a call failed: from here on nothing is shown live; the text from `brokenAt` goes out as a new message. */
  let brokenAt: number | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const news = () => new Promise<void>((resolve) => (wake = resolve));
  const reading = read(stream, settings.idleTimeoutMs, signal, (chunk) => {
    answer.add(chunk);
    notify();
  }).then((failed) => {
    ended = true;
    notify();
    return failed;
  });

  const pace = () => pacer.take(item.to, signal);
  const open = () => streaming.open(ids.length === 0 && from === 0 ? { ...item, content: [] } : { ...item, content: [], replyTo: undefined }, signal, pace);
  const breakAt = (at: number, error: string) => {
    brokenAt = at;
    // What the user was shown stays theirs: the message is kept, the rest follows it.
    if (live?.id !== undefined && at > from && !ids.includes(live.id)) ids.push(live.id);
    log.warn({ to: item.to.channelId, err: error }, 'a streamed message could not be updated; the rest goes out as a new message');
  };
  /**
   * Ends the message being shown with `content`, the answer's text up to `end`; false when that
   * failed, and the stream is broken from what the user saw: all of `content`'s text when a part
   * of it went out (the edit did, the media after it did not), else what the updates showed.
   */
  const finish = async (content: Segment[], end: number): Promise<boolean> => {
    live ??= open();
    const done = await live.finish(content);
    ids.push(...done.ids);
    if (!done.ok) breakAt(done.ids.length > 0 ? end : live.draft ? from : from + shown, done.error ?? 'the platform refused the last update');
    else live = undefined;
    return done.ok;
  };

  let lastAt = -Infinity;
  /** The loop waited for a slot and the stream ended meanwhile: the finish goes in that slot. */
  let slotHeld = false;
  while (!ended && brokenAt === undefined) {
    if (answer.text.length - from === shown) {
      await news();
      continue;
    }
    // Paced: the platform's least interval, then a slot in the chat's buckets. Whatever comes meanwhile joins this update.
    const gap = lastAt + minGap - performance.now();
    if (gap > 0) await Promise.race([sleep(gap, signal), reading]);
    if (ended) break;
    if (!(await pacer.take(item.to, signal))) break;
    if (ended) {
      slotHeld = true; // the end is shown by finish(), in this slot: one call fewer, and no second wait
      break;
    }
    if (answer.text.length - from > max) {
      // The message is full: it is finished with what fits, and the stream goes on in a new one.
      const cut = cutIndex(answer.text.slice(from), max);
      if (!(await finish([{ type: 'text', text: answer.text.slice(from, from + cut) }], from + cut))) break;
      from += cut;
      if (answer.text[from] === '\n' || answer.text[from] === ' ') from++; // the break itself is not repeated
      shown = 0;
      lastAt = performance.now();
      continue;
    }
    const text = answer.text.slice(from);
    live ??= open();
    const step = await live.update(text);
    edits++;
    lastAt = performance.now();
    if (step.ok) shown = text.length;
    else if (step.failure.kind === 'rate-limited') pacer.hold(item.to, step.failure.afterMs ?? 1000, step.failure.scope ?? 'chat');
    else breakAt(live.draft ? from : from + shown, step.error);
  }

  const failed = await reading;
  if (failed !== undefined) answer.fail(settings.notice);
  let rest: Segment[] = [];
  if (brokenAt === undefined && live) {
    const gap = lastAt + minGap - performance.now();
    if (!slotHeld && ((gap > 0 && !(await sleep(gap, signal))) || !(await pacer.take(item.to, signal)))) breakAt(live.draft ? from : from + shown, 'shutting down');
  }
  if (brokenAt === undefined && live) {
    // The last message is finished with what fits; anything past that goes as a new message.
    const left = answer.text.length - from;
    const cut = left > max ? cutIndex(answer.text.slice(from), max) : left;
    const last = cut === left ? answer.content(from) : [{ type: 'text' as const, text: answer.text.slice(from, from + cut) }];
    if (await finish(last, from + cut)) rest = cut === left ? [] : answer.content(from + cut).map((s, i) => (i === 0 && s.type === 'text' ? { type: 'text', text: s.text.replace(/^[\n ]/, '') } : s));
  } else if (brokenAt === undefined) rest = answer.content(from);
  if (brokenAt !== undefined) rest = answer.content(brokenAt);
  const end: LiveEnd = { content: answer.content(), ids, edits, rest };
  if (failed !== undefined) end.failed = failed;
  return end;
}
