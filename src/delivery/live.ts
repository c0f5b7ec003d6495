// A growing message on a platform that edits its messages (Lark's card patch, VK's messages.edit,
// Tencent IM's modify calls): the first update sends the message, later ones edit it, and finish
// is a last edit with the final text and the buttons that follow it; images and files follow as
// new messages. The platform gives the calls; what a failure means comes from its errors' kind.

import type { LiveMessage, StreamStep, Streaming } from '../adapter.js';
import type { Button, Delivery, OutgoingMessage, Segment } from '../message.js';
import { classifyError, retryable } from './retry.js';

/** The calls one platform makes for a growing message; `H` is what an edit needs (an id, a key). */
export interface EditCalls<H> {
  /** Sends the message with its first text; resolves with what later edits need. */
  create(text: string): Promise<H>;
  /** Replaces the message's text; `rows` only on the last edit (the buttons after the text, where the platform shows buttons). */
  edit(handle: H, text: string, rows?: Button[][]): Promise<void>;
  /** The id the user's chat knows the message by (what the outbox records). */
  idOf(handle: H): string;
  /**
   * Sends `content` as new messages, the platform's ordinary way: the media after the text, or, with
   * `whole`, all of it when nothing was shown (then it answers the message the stream replies to).
   */
  send(content: Segment[], whole: boolean): Promise<Delivery>;
}

/** A message's final content as an edit shows it: its text, the buttons right after, and what follows as new messages. */
export function finalParts(content: readonly Segment[]): { text: string; rows: Button[][] | undefined; rest: Segment[] } {
  let i = 0;
  let text = '';
  for (; i < content.length && content[i]!.type === 'text'; i++) text += (content[i] as { text: string }).text;
  const next = content[i];
  const rows = next?.type === 'buttons' ? next.rows : undefined;
  return { text, rows, rest: content.slice(rows ? i + 1 : i) };
}

/** What a failed call says, and what kind of failure it is (the platform's error classifies itself). */
const why = (error: unknown) => ({ error: error instanceof Error ? error.message : String(error), failure: classifyError(error) });

export class EditedMessage<H> implements LiveMessage {
  private handle: H | undefined;

  constructor(
    private readonly calls: EditCalls<H>,
    /** Waits for the chat's next send slot: the messages after the last edit are sends of their own. */
    private readonly pace: () => Promise<boolean>,
  ) {}

  get id(): string | undefined {
    return this.handle === undefined ? undefined : this.calls.idOf(this.handle);
  }

  async update(text: string): Promise<StreamStep> {
    try {
      if (this.handle === undefined) this.handle = await this.calls.create(text);
      else await this.calls.edit(this.handle, text);
      return { ok: true };
    } catch (error) {
      return { ok: false, ...why(error) };
    }
  }

  async finish(content: Segment[]): Promise<Delivery> {
    const started = performance.now();
    const { handle } = this;
    const { text, rows, rest } = finalParts(content);
    // Nothing shown yet, or nothing an edit can show: the platform's ordinary send.
    if (handle === undefined || text === '') return this.calls.send(content, true);
    try {
      await this.calls.edit(handle, text, rows);
    } catch (error) {
      return { ok: false, ids: [], ms: performance.now() - started, ...why(error) };
    }
    const id = this.calls.idOf(handle);
    if (rest.length === 0) return { ok: true, ids: [id], ms: performance.now() - started };
    if (!(await this.pace())) return { ok: false, ids: [id], ms: performance.now() - started, error: 'shutting down', failure: retryable };
    const after = await this.calls.send(rest, false);
    return { ...after, ids: [id, ...after.ids], ms: performance.now() - started };
  }
}

/** A platform that shows a growing answer by editing one message. */
export interface EditingPlatform<H> {
  maxLength: number;
  minIntervalMs?: number;
  /** The calls that grow one message answering `message` (its `to`; its `replyTo` on the first). */
  calls(message: OutgoingMessage, signal: AbortSignal): Omit<EditCalls<H>, 'send'>;
  /** The adapter's ordinary send. */
  send(message: OutgoingMessage): Promise<Delivery>;
}

export function editedStreaming<H>(platform: EditingPlatform<H>): Streaming {
  return {
    maxLength: platform.maxLength,
    ...(platform.minIntervalMs === undefined ? {} : { minIntervalMs: platform.minIntervalMs }),
    open: (message, signal, pace) =>
      new EditedMessage<H>(
        {
          ...platform.calls(message, signal),
          send: (content, whole) => platform.send({ ...message, content, replyTo: whole ? message.replyTo : undefined }),
        },
        pace,
      ),
  };
}
