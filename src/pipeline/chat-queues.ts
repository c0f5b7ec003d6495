// Chat order: the events of one chat are handled one at a time, in the order they were admitted;
// different chats run beside each other. Each chat's queue is the promise of its last event, kept
// only while one is queued or running, so a chat that went quiet costs nothing.

import type { Logger } from '../runtime/logger.js';
import { renewEvery } from './replayable.js';
import { Tally } from './tally.js';

export class ChatQueues {
  /** Events queued or running: counted, not kept (this is the hot path; tally.ts). */
  readonly running = new Tally();
  /** The tail of each chat's queue. Moved onto a fresh map every renewEvery sets (see replayable.ts). */
  private tails = new Map<string, Promise<void>>();
  private setsSinceRenewal = 0;

  /** `done` is called once an event ended, failed or not (the pipeline frees its slot there). */
  constructor(
    private readonly logger: Logger,
    private readonly done: () => void,
  ) {}

  /** Chats with an event queued or running. */
  get chats(): number {
    return this.tails.size;
  }

  /**
   * Runs `handle` once the chat's earlier events are done, or once `gate` settles when the chat has
   * none queued (events resumed after a restart wait for the platforms to be up). Never throws: a
   * failure is logged under the event's id.
   */
  enqueue(chat: string, id: string, handle: () => Promise<unknown>, gate?: Promise<void>): void {
    const previous = this.tails.get(chat) ?? gate;
    // One then for both ends rather than catch and finally: two promises fewer per message.
    const run: Promise<void> = (previous ? previous.then<unknown>(handle) : handle()).then(
      () => this.ran(chat, run),
      (error: unknown) => {
        this.logger.error({ err: error, event: id }, 'handling failed');
        this.ran(chat, run);
      },
    );
    this.running.add();
    if (++this.setsSinceRenewal === renewEvery) {
      this.setsSinceRenewal = 0;
      this.tails = new Map(this.tails);
    }
    this.tails.set(chat, run);
  }

  /** The chat's queue ends with this event unless another came behind it. */
  private ran(chat: string, run: Promise<void>): void {
    this.running.done();
    if (this.tails.get(chat) === run) this.tails.delete(chat);
    this.done();
  }
}
