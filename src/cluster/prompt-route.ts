// ctx.prompt across instances that share the work (docs/conversations.md, "Several instances").
// A handler waits in the memory of the instance that asked; its answer is queued on the chat's
// partition and may be taken by any worker. So a wait is also recorded in the store, under who may
// answer (platform instance, chat, user), naming the instance and the wait, for as long as the wait
// lasts. A worker with no wait of its own for a message looks there; when a live instance holds one,
// it hands the answer over and keeps the partition (so the chat's order) until that instance ran the
// answer's turn, which records, sends and finishes the event as if it had taken the job itself.
//
// Signals carry no data, so a hand-over is an offer in the store (`prompt:offer:<event>`, its state
// moved on by each side as one step: offered -> accepted | refused | withdrawn, accepted -> done |
// left) plus the event's id in the asker's mailbox, and a signal to each side to read them. The
// asker refuses an offer for a wait that has ended (timed out, replaced, shut down): the answer
// is then an ordinary message, handled by the worker that offered it. An asker that dies is seen
// by its liveness key running out (cluster.stallTimeout): an offer it had not taken is withdrawn
// and the message is ordinary; a turn it had taken goes on from the event's journal, as after a crash.

import { randomUUID } from 'node:crypto';
import { errorMessage } from '../inbound/supervisor.js';
import type { AnswerJournal, HandOver, LocalWaits, SharedWaits, Waiting } from '../pipeline/prompts.js';
import { keyOf } from '../pipeline/prompts.js';
import type { Logger } from '../runtime/logger.js';
import type { Store } from '../store/index.js';

/** Where a wait is held. */
interface WaitRecord {
  instance: string;
  wait: string;
}

type OfferState = 'offered' | 'accepted' | 'refused' | 'withdrawn' | 'done' | 'left';

/** An answer offered to the instance that holds its wait. */
interface Offer {
  instance: string;
  key: string;
  wait: string;
  state: OfferState;
}

/** Longer than any wait (24 h): an instance that starts while one may still wait learns prompts are in use. */
const inUseTtlMs = 25 * 3_600_000;
/** Offers and mailboxes outlive any answer's turn; they are deleted once settled. */
const offerTtlMs = 24 * 3_600_000;

const waitKey = (key: string) => `prompt:wait:${key}`;
const liveKey = (instance: string) => `prompt:live:${instance}`;
const mailKey = (instance: string) => `prompt:mail:${instance}`;
const offerKey = (eventId: string) => `prompt:offer:${eventId}`;
const inUseKey = 'prompt:in-use';

export class PromptRoute implements SharedWaits {
  /** This instance, as its waits name it. */
  readonly instance = randomUUID();
  private local: LocalWaits | undefined;
  /** Watching this instance's mailbox (from its first wait on). */
  private watching: Promise<() => void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Whether any instance has recorded a wait lately: until one has, messages are not looked up (the hot path). */
  private inUse: boolean | Promise<boolean> | undefined;
  /** Answers' turns being run here for other instances' workers. */
  private answering = 0;
  /** Wakes each offer this instance's workers wait on (at shutdown). */
  private readonly settling = new Set<() => void>();
  private reading = false;
  private readAgain = false;
  private closed = false;

  /** `liveMs`: how long an instance may go silent before its waits count as gone (cluster.stallTimeout). */
  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly liveMs: number,
  ) {}

  attach(local: LocalWaits): void {
    this.local = local;
  }

  async record(waiting: Waiting, timeoutMs: number): Promise<void> {
    const { store } = this;
    this.inUse = true;
    this.beat();
    try {
      this.watching ??= store.watch(mailKey(this.instance), () => void this.readMail());
      await Promise.all([this.watching, store.set(liveKey(this.instance), true, this.liveMs), store.set(waitKey(waiting.key), { instance: this.instance, wait: waiting.id } satisfies WaitRecord, timeoutMs), this.announceUse()]);
    } catch (error) {
      this.watching = undefined;
      this.logger.warn({ err: errorMessage(error) }, 'could not record a prompt\'s wait in the store: an answer another instance takes is handled there as an ordinary message');
    }
  }

  forget(waiting: Waiting): void {
    void this.store.update<WaitRecord>(waitKey(waiting.key), (held) => (held?.wait === waiting.id ? undefined : held)).catch(() => undefined);
  }

  handOver(eventId: string, journal: AnswerJournal, log: Logger): Promise<HandOver | undefined> | undefined {
    // The hot path: until some instance has prompted, a message is not looked up.
    if (this.inUse === false) return undefined;
    return this.offer(eventId, journal, log);
  }

  private async offer(eventId: string, journal: AnswerJournal, log: Logger): Promise<HandOver | undefined> {
    if (this.inUse !== true && !(await (this.inUse ??= this.learnUse()))) return undefined;
    const { store } = this;
    let offer: Offer | undefined;
    try {
      const key = keyOf(journal.message);
      // Read together (one round trip). Offered before (this event's job runs again, its worker gone): that offer stands.
      const [offered, held] = await Promise.all([store.get<Offer>(offerKey(eventId)), store.get<WaitRecord>(waitKey(key))]);
      offer = offered;
      if (!offer) {
        if (!held || held.instance === this.instance) return undefined;
        if (!(await this.live(held.instance))) {
          log.info('the instance that asked this user a question is gone; the answer is an ordinary message');
          return undefined;
        }
        // The asker runs the event from its journal: onMessage's changes with it.
        await store.inbox.update(eventId, journal);
        offer = { instance: held.instance, key, wait: held.wait, state: 'offered' };
        await store.set(offerKey(eventId), offer, offerTtlMs);
      }
    } catch (error) {
      log.warn({ err: errorMessage(error) }, 'could not look up or offer the answer to a prompt another instance waits for; it is an ordinary message here');
      return undefined;
    }
    return this.settle(eventId, offer, log);
  }

  /** Waits for the asker to take the offer and run its turn, or refuse it; withdraws it if the asker goes silent first. */
  private async settle(eventId: string, offer: Offer, log: Logger): Promise<HandOver | undefined> {
    const { store } = this;
    let woken = false;
    let wake = () => void (woken = true);
    const wakeUp = () => wake();
    this.settling.add(wakeUp);
    const unwatch = await store.watch(offerKey(eventId), wakeUp).catch(() => undefined);
    const patience = Date.now() + this.liveMs;
    try {
      if (offer.state === 'offered') {
        await store.update<string[]>(mailKey(offer.instance), (mail) => [...(mail ?? []), eventId], offerTtlMs).catch(() => undefined);
        await store.notify(mailKey(offer.instance)).catch(() => undefined);
        log.info({ to: offer.instance }, 'this message answers a prompt another instance waits for; handed over to it');
      }
      for (;;) {
        // Shutting down: the job goes back to its queue, and the worker that takes it next finds this offer and waits on it.
        if (this.closed) return 'left';
        const state = (await store.get<Offer>(offerKey(eventId)).catch(() => offer))?.state ?? 'refused';
        if (state === 'done' || state === 'left') return this.settled(eventId, state);
        if (state === 'refused' || state === 'withdrawn') {
          log.info('the instance that asked no longer waits for this answer; it is an ordinary message');
          return this.settled(eventId, undefined);
        }
        // A store that cannot say is no sign the asker died.
        const gone = !(await this.live(offer.instance).catch(() => true));
        if (state === 'accepted' && gone) {
          log.warn({ to: offer.instance }, 'the instance that took this answer is gone; its turn goes on here from the journal');
          return this.settled(eventId, 'resume');
        }
        if (state === 'offered' && (gone || Date.now() > patience)) {
          // As one step: the asker may be taking it this moment, and then it is its to run.
          const after = await store.update<Offer>(offerKey(eventId), (o) => (o?.state === 'offered' ? { ...o, state: 'withdrawn' } : o)).catch(() => undefined);
          if (after && after.state !== 'offered') continue;
        }
        if (!woken) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, this.liveMs / 3);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        woken = false;
        wake = () => void (woken = true);
      }
    } finally {
      this.settling.delete(wakeUp);
      unwatch?.();
    }
  }

  private settled<T extends HandOver | undefined>(eventId: string, how: T): T {
    void this.store.delete(offerKey(eventId)).catch(() => undefined);
    return how;
  }

  /** The asker's side: takes each offer in this instance's mailbox, accepting those whose wait still waits here. */
  private async readMail(): Promise<void> {
    if (this.reading) return void (this.readAgain = true);
    this.reading = true;
    try {
      do {
        this.readAgain = false;
        const mail = await this.store.get<string[]>(mailKey(this.instance));
        if (!mail?.length) continue;
        await Promise.all(mail.map((eventId) => this.take(eventId)));
        await this.store.update<string[]>(mailKey(this.instance), (left) => {
          const rest = left?.filter((id) => !mail.includes(id));
          return rest?.length ? rest : undefined;
        });
      } while (this.readAgain);
    } catch (error) {
      this.logger.warn({ err: errorMessage(error) }, 'could not read the answers other instances handed over; trying again');
    } finally {
      this.reading = false;
    }
  }

  private async take(eventId: string): Promise<void> {
    const { store } = this;
    const offer = await store.get<Offer>(offerKey(eventId));
    if (offer?.state !== 'offered' || offer.instance !== this.instance) return;
    const log = this.logger.child({ event: eventId });
    const waiting = this.closed ? undefined : this.local?.claim(offer.key, offer.wait);
    let state: OfferState | undefined;
    try {
      state = (await store.update<Offer>(offerKey(eventId), (o) => (o?.state === 'offered' ? { ...o, state: waiting ? 'accepted' : 'refused' } : o)))?.state;
      await store.notify(offerKey(eventId)).catch(() => undefined);
    } catch (error) {
      log.warn({ err: errorMessage(error) }, 'could not answer an offer of an answer another instance took; it is that instance\'s to handle');
    }
    if (!waiting) return void log.info('an answer was handed over after its prompt had ended here; the instance that took it handles it as an ordinary message');
    if (state === 'accepted') return void this.answer(eventId, waiting);
    // Withdrawn (the other instance took this one for gone), or unknown: the answer is the other's to
    // handle, and this handler goes on as if none came. Unknown, the offer is marked left, so that
    // instance puts the event back in its queue instead of waiting on an acceptance that may have landed.
    this.local!.expire(waiting);
    if (state === undefined) await this.conclude(eventId, 'left');
  }

  /** Runs an accepted answer's turn here, then tells the instance that offered it how it ended. */
  private async answer(eventId: string, waiting: Waiting): Promise<void> {
    const { store } = this;
    // Live while it runs: the instance that offered it takes a silence for a death and goes on with the turn itself.
    this.answering++;
    this.beat();
    let end: 'done' | 'left' = 'left';
    try {
      const event = await store.inbox.get(eventId);
      end = event ? await this.local!.answer(eventId, event.journal as AnswerJournal, waiting) : 'done';
    } catch (error) {
      this.logger.warn({ event: eventId, err: errorMessage(error) }, 'could not read an answer handed over; the instance that offered it resumes it');
    } finally {
      this.answering--;
    }
    await this.conclude(eventId, end);
    // A shutdown waits for the turn (it is in flight): only then is this instance gone.
    if (this.answering === 0 && this.closed) this.withdraw();
  }

  private async conclude(eventId: string, end: 'done' | 'left'): Promise<void> {
    await this.store.update<Offer>(offerKey(eventId), (o) => o && { ...o, state: end }).catch(() => undefined);
    await this.store.notify(offerKey(eventId)).catch(() => undefined);
  }

  /** Keeps this instance live in the store while it holds waits, and reads its mailbox each time (a signal may be lost). */
  private beat(): void {
    if (this.heartbeat || this.closed) return;
    this.heartbeat = setInterval(() => {
      if (!this.local?.size && this.answering === 0) return this.stopBeating();
      void this.store.set(liveKey(this.instance), true, this.liveMs).catch(() => undefined);
      void this.readMail();
    }, this.liveMs / 3).unref();
  }

  private stopBeating(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private async live(instance: string): Promise<boolean> {
    return (await this.store.get(liveKey(instance))) !== undefined;
  }

  /** Marks prompts in use for every instance: those running now are told, those starting later read it. */
  private async announceUse(): Promise<void> {
    if (await this.store.claim(inUseKey, inUseTtlMs)) await this.store.notify(inUseKey);
    else await this.store.set(inUseKey, true, inUseTtlMs);
  }

  /** Whether to look messages up: watched from the first message on, so a wait recorded later is heard of. */
  private async learnUse(): Promise<boolean> {
    try {
      await this.store.watch(inUseKey, () => (this.inUse = true));
      const recorded = (await this.store.get(inUseKey)) !== undefined;
      // Heard of meanwhile (the watch was first): that stands.
      const used = this.inUse === true || recorded;
      this.inUse = used;
      return used;
    } catch (error) {
      this.inUse = undefined;
      this.logger.warn({ err: errorMessage(error) }, 'could not tell whether prompts wait on other instances; looking this message up');
      return true;
    }
  }

  close(): void {
    this.closed = true;
    for (const wake of this.settling) wake();
    void this.watching?.then((unwatch) => unwatch(), () => undefined);
    if (this.answering === 0) this.withdraw();
  }

  /** Its waits dropped and no answer's turn left to run: offers made from now on find this instance gone, and their answers are messages. */
  private withdraw(): void {
    this.stopBeating();
    void this.store.delete(liveKey(this.instance)).catch(() => undefined);
  }
}
