// Events a platform sends again until it is told they are done (a gateway session resumed from the
// last sequence acknowledged) are taken without being recorded first: the platform's replay is
// their record. The platform acknowledges them in order, as one cursor (the session's sequence,
// kept in the store), so one that ends leaving no trace while nothing taken before it is still
// held here costs no write of its own: the cursor moves over it, and the platform's next write of
// the cursor is its record. One that ends while an older one is still running costs one write, its
// dedup key, as the cursor cannot pass it yet; an admitted event costs three (key, event row, its
// deletion) and its journal's serialization. One about to leave a trace (replies into the outbox, a
// stage's answer saved) or still running after `graceMs` (a slow handler, a prompt waiting for its
// answer) is recorded then, as admission would have, and is an admitted event from there on. The
// platform is acknowledged once the event is finished or recorded: before that a crash loses
// nothing, as the resumed session sends it again, and its dedup key, written only when it is done,
// does not turn the replay away. A crash between an event's end and the next write of the cursor
// (or of its dedup key) has it handled again on the replay: at least once, as for any handler a
// crash cut off.

import type { Admission } from '../adapter.js';
import { dedupKey, type Store } from '../store/index.js';
import type { Logger } from '../runtime/logger.js';
import { errorMessage } from '../inbound/supervisor.js';
import type { MessageJournal } from './journal.js';

/** What admitting one came to: being handled (recorded or finished), or unrecorded and to be sent again, or not taken. */
export type ReplayableAdmission = 'handling' | 'handling unrecorded' | 'duplicate' | 'closed';

/** An event taken, and neither recorded nor finished yet. */
interface Unrecorded {
  readonly id: string;
  readonly botId: string;
  readonly key: string;
  readonly at: number;
  /** What it holds while it is in the map; emptied as it leaves it (forget). */
  held: Held | undefined;
  /** Its recording failed and the platform was told to send it again: the cursor stops before it (counted in `unsettled` while it is held). */
  refused?: true;
}

interface Held {
  readonly journal: MessageJournal;
  readonly acknowledged: Promise<Admission>;
  readonly acknowledge: (admission: Admission) => void;
}

/**
 * A map churned an entry per event (this one, the pipeline's chats) moves onto a fresh one this
 * often. V8 allocates the table of a map that grows or shrinks where the last one was: once one
 * has lived long enough to be in the old generation, every later one is born there, and each dead
 * one keeps the entries it had reachable to young collections until a full one. Under a firehose
 * that made most events old-generation garbage (bench/README.md, "Gateway fan-in"); a fresh map's
 * table is young again.
 */
export const renewEvery = 4096;

const done = Promise.resolve();

export class ReplayableEvents {
  /**
   * By event id, in the order taken, which is the order of age: the sweep stops at the first one
   * young enough. The id is the same for every delivery (replayableEventId), so a session started
   * again in this process finds here what it replays that is still running.
   */
  private waiting = new Map<string, Unrecorded>();
  private sweeper: NodeJS.Timeout | undefined;
  /** Events taken since the map was last renewed. */
  private takenSinceRenewal = 0;
  /**
   * Replays being looked up, events being recorded, and events held whose recording failed: an
   * event that ends meanwhile may be ahead of one of them in the platform's order, where the cursor
   * cannot pass it yet, so it ends with its dedup key.
   */
  private unsettled = 0;
  /** Admissions waiting for their turn (admitInTurn), and the turn of the last of them. */
  private inTurn = 0;
  private lastTurn: Promise<void> = done;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly dedupTtlMs: number,
    /** Told of each event the store could not record, as a refused admission is counted. */
    private readonly unrecorded: (botId: string) => void,
    private readonly graceMs = 1000,
  ) {}

  /**
   * Takes an event unrecorded and has `run` schedule it (`replayed`: its first callback is told it
   * may repeat what a run cut off by a crash did). A replay is looked up first, as it may have been
   * handled before. Settles once the event is finished or recorded: `handling unrecorded` when the
   * store could not record it, for the platform to send it again. Rejects when the store cannot be
   * read for that lookup: the caller refuses the event, as any admission the store failed. `id`:
   * replayableEventId(botId, key), the same for every delivery of the event.
   */
  admit(id: string, botId: string, key: string, journal: MessageJournal, replayed: boolean, run: (replayed: boolean) => void): Promise<ReplayableAdmission> {
    // Still running here (replayed to a session started again in this process): acknowledged with the original.
    const original = this.waiting.get(id)?.held?.acknowledged;
    if (original) return original.then((admission) => (admission === 'closed' ? 'closed' : 'duplicate'));
    if (!replayed && this.inTurn === 0) return this.taken(this.take(id, botId, key, journal), run, false);
    return this.admitInTurn(id, botId, key, journal, replayed, run);
  }

  /**
   * The hot path of admit: a live event with no replay ahead of it in its turn is taken, and `run`
   * schedules it, now. Resolves with what the platform is told (`closed`: it could not be recorded,
   * and is to be sent again). Undefined when it must go through admit instead (a replay is being
   * looked up, or the event is already here).
   */
  takeLive(id: string, botId: string, key: string, journal: MessageJournal, run: () => void): Promise<Admission> | undefined {
    if (this.inTurn !== 0 || this.waiting.has(id)) return undefined;
    const acknowledged = this.take(id, botId, key, journal);
    run();
    return acknowledged;
  }

  /**
   * A replay, looked up first, or an event that came after one whose lookup is still under way:
   * scheduled in the order the platform sent them. The first live event after a resumed session's
   * replay is often of the same chat, and would otherwise be handled before the replays it follows.
   * The lookups run side by side; only the scheduling waits its turn.
   */
  private async admitInTurn(id: string, botId: string, key: string, journal: MessageJournal, replayed: boolean, run: (replayed: boolean) => void): Promise<ReplayableAdmission> {
    const previous = this.lastTurn;
    let turnDone!: () => void;
    this.lastTurn = new Promise<void>((resolve) => (turnDone = resolve));
    this.inTurn++;
    if (replayed) this.unsettled++;
    // Settled into a value at once: a failed lookup waiting for its turn is not an unhandled rejection.
    const lookup = replayed ? this.store.inbox.admittedAs(botId, key).then((admittedAs) => ({ admittedAs }), (error: unknown) => ({ error })) : undefined;
    try {
      let admitted: string | undefined;
      try {
        await previous;
        const looked = await lookup;
        if (looked && 'error' in looked) throw looked.error;
        admitted = looked?.admittedAs;
      } finally {
        if (replayed) this.unsettled--;
        this.inTurn--;
      }
      return admitted !== undefined ? 'duplicate' : this.taken(this.take(id, botId, key, journal), run, replayed);
    } finally {
      // Scheduled (or refused) now: the next in turn goes.
      turnDone();
    }
  }

  private taken(acknowledged: Promise<Admission>, run: (replayed: boolean) => void, replayed: boolean): Promise<ReplayableAdmission> {
    run(replayed);
    return acknowledged.then((admission) => (admission === 'closed' ? 'handling unrecorded' : 'handling'));
  }

  /** Takes an event unrecorded; settles with what the platform is told, once it is finished or recorded. */
  private take(id: string, botId: string, key: string, journal: MessageJournal): Promise<Admission> {
    let acknowledge!: (admission: Admission) => void;
    const acknowledged = new Promise<Admission>((resolve) => (acknowledge = resolve));
    this.keep({ id, botId, key, at: performance.now(), held: { journal, acknowledged, acknowledge } });
    return acknowledged;
  }

  private keep(event: Unrecorded): void {
    if (++this.takenSinceRenewal === renewEvery) {
      this.takenSinceRenewal = 0;
      this.waiting = new Map(this.waiting);
    }
    this.waiting.set(event.id, event);
    this.sweeper ??= setInterval(() => this.recordSlow(), this.graceMs).unref();
  }

  /**
   * Before an event leaves a trace in the store: an event taken unrecorded is recorded first. Its
   * write is queued before the caller's, so a store that commits in order (all of ours) never
   * holds the trace without the event.
   */
  record(id: string): void {
    const event = this.waiting.get(id);
    if (!event) return;
    const held = this.forget(event);
    this.unsettled++;
    this.store.inbox.admit({ id, botId: event.botId, key: event.key, journal: held.journal }, this.dedupTtlMs).then(
      // Taken by another admission meanwhile (a duplicate that raced it): acknowledged all the same, as it was handled here.
      () => {
        this.unsettled--;
        held.acknowledge('accepted');
      },
      (error: unknown) => {
        this.unsettled--;
        this.logger.error({ bot: event.botId, key: event.key, err: errorMessage(error) }, 'could not record an event being handled; the platform is asked to deliver it again');
        this.unrecorded(event.botId);
        // Still running, and unrecorded again: its replay waits for it (refused meanwhile), and it ends with its dedup key.
        event.held = held;
        event.refused = true;
        this.unsettled++;
        this.keep(event);
        held.acknowledge('closed');
      },
    );
  }

  /**
   * The event is done. Undefined when it is not one of these (or it was recorded): the caller
   * finishes it as an admitted event. When nothing taken before it is still held here, the platform
   * is acknowledged at once, and its cursor is the record. Otherwise its dedup key is written, and
   * once that is committed the platform is acknowledged.
   */
  finish(id: string): Promise<void> | undefined {
    const event = this.waiting.get(id);
    if (!event) return undefined;
    const oldest = this.unsettled === 0 && this.waiting.keys().next().value === id;
    const { acknowledge } = this.forget(event);
    if (oldest) {
      acknowledge('accepted');
      return done;
    }
    return this.store.set(dedupKey(event.botId, event.key), id, this.dedupTtlMs).then(
      () => acknowledge('accepted'),
      (error: unknown) => {
        // Handled: acknowledged all the same, so only a crash within the dedup window could repeat it.
        this.logger.error({ bot: event.botId, key: event.key, err: errorMessage(error) }, 'could not write the dedup key of a handled event; a replay of it after a crash would be handled again');
        acknowledge('accepted');
      },
    );
  }

  private recordSlow(): void {
    const before = performance.now() - this.graceMs;
    for (const event of this.waiting.values()) {
      if (event.at > before) break;
      this.record(event.id);
    }
  }

  /**
   * Called as its write is queued: a replay that comes after finds the write instead (a read commits
   * what is queued). Returns what the event held and empties it: a dead table that still lists the
   * entry (see renewEvery) then keeps nothing of the event alive.
   */
  private forget(event: Unrecorded): Held {
    const held = event.held!;
    event.held = undefined;
    if (event.refused) {
      event.refused = undefined;
      this.unsettled--;
    }
    this.waiting.delete(event.id);
    if (this.waiting.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
    return held;
  }
}
