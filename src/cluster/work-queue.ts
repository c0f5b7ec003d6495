// Work distribution for several instances on one Redis (BullMQ 6): admitted events are queued by
// their id in one of `cluster.partitions` queues (a chat always in the same one, see
// partitions.ts); each queue has a global concurrency of 1, so across every worker of every
// instance one job of a partition runs at a time, in the order queued. A worker reads the event
// from the inbox (the store), so a job taken over after its worker died goes on from the journal,
// and the outbox keys keep its replies from being sent twice.
//
// A worker that dies leaves its job active with a lock it no longer renews; after `stallTimeout`
// BullMQ's stalled-job check puts the job back at the head of its queue (RPUSH, where the next
// job is taken from) and the partition, blocked meanwhile by the global concurrency, goes on
// with it first: order is kept. A job cut short at shutdown is put back the same way at once.
//
// A worker that completes a job takes the next one of its partition at once (BullMQ fetches it in
// the same step), so a partition that never empties stays with one instance; partitions move
// between instances as they go idle, to whichever instance's worker has waited longest.

import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { chatOf, type WorkQueue } from '../pipeline/work.js';
import type { Journal } from '../pipeline/journal.js';
import type { RunEnd } from '../pipeline/handle.js';
import { errorMessage } from '../inbound/supervisor.js';
import type { Logger } from '../runtime/logger.js';
import { StoreError, type Store, type StoredEvent } from '../store/index.js';
import { partitionName, partitionOf } from './partitions.js';
import { Sweeper } from './sweeper.js';

export interface ClusterWorkOptions {
  /** The Redis of the store, and its key prefix: the queues live under `<prefix>bull:`. */
  url: string;
  prefix: string;
  partitions: number;
  /** How long a worker may go silent on a job before another takes it over. */
  stallTimeoutMs: number;
  store: Store;
  logger: Logger;
  /** Takes webhooks and connections: queues events, and hears when one it queued is handled elsewhere. */
  ingress: boolean;
  /** Runs one event to its end (a worker); absent, this instance takes no jobs. */
  run?: (event: StoredEvent, resumed: boolean) => Promise<RunEnd>;
}

/**
 * A job's data: its id is the event's; `notify` asks for a word on `handled` once it is; `again`
 * marks an event queued again (a redelivery, the sweeper), which may have run before: its worker
 * resumes it, so replies already delivered (their job done and gone) are not sent a second time.
 */
interface JobData {
  notify?: true;
  again?: true;
}

/** A queued event whose sender waits for its replies (the HTTP endpoint): forgotten after this long unheard of. */
const notifyForgetMs = 10 * 60_000;
/** How long a record one instance sends is claimed for (should it die sending); released once sent. */
const sendClaimMs = 10 * 60_000;
/** After a worker's failure to read its event, a pause before the job goes back, so a fault does not spin. */
const failurePauseMs = 1000;

export class ClusterWork implements WorkQueue {
  private readonly queues: Queue<JobData>[] = [];
  private readonly workers: Worker<JobData>[] = [];
  /** onHandled of the events this instance queued, by event id, with when they were queued. */
  private readonly waiting = new Map<string, { onHandled: () => void; at: number }>();
  private readonly channel: string;
  private subscriber: Redis | undefined;
  /** Jobs being run here; and whether this instance still takes jobs. */
  private readonly running = new Set<Promise<void>>();
  private stopping = false;
  private workerConnection: Redis | undefined;
  readonly sweeper: Sweeper;

  private constructor(
    private readonly options: ClusterWorkOptions,
    private readonly connection: Redis,
  ) {
    this.channel = `${options.prefix}handled`;
    const prefix = `${options.prefix}bull`;
    for (let i = 0; i < options.partitions; i++) {
      const queue = new Queue<JobData>(partitionName(i), { connection, prefix, skipWaitingForReady: true, defaultJobOptions: { removeOnComplete: true, removeOnFail: { age: 7 * 24 * 3600 } } });
      // A connection error is reported by the add that fails (the event is then left to the sweeper).
      queue.on('error', () => {});
      this.queues.push(queue);
    }
    this.sweeper = new Sweeper(options.store, (event) => this.add(event.id, chatOf(event.journal as Journal), true, true), options.logger, Math.max(5000, options.stallTimeoutMs));
  }

  /** Connects to Redis and gives every partition its global concurrency of 1; workers start with start(). */
  static async open(options: ClusterWorkOptions): Promise<ClusterWork> {
    // Fails fast like the store: an ingress that cannot queue leaves the event to the sweeper.
    const connection = new Redis(options.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: (times) => Math.min(100 * 2 ** times, 2000) });
    connection.on('error', () => {});
    try {
      await connection.connect();
    } catch (error) {
      connection.disconnect();
      throw new StoreError(`cannot reach Redis for the work queues (${errorMessage(error)}); start Redis or check store.url`);
    }
    const work = new ClusterWork(options, connection);
    const limit = () => Promise.all(work.queues.map((queue) => queue.setGlobalConcurrency(1)));
    await limit();
    // A Redis that restarted empty (no persistence) forgot it: set again on every reconnect.
    connection.on('ready', () => void limit().catch(() => undefined));
    return work;
  }

  async enqueue(id: string, chat: string | undefined, onHandled?: () => void, again = false): Promise<void> {
    if (onHandled) this.waiting.set(id, { onHandled, at: Date.now() });
    await this.add(id, chat, onHandled !== undefined, again);
  }

  async requeue(botId: string, key: string): Promise<void> {
    const { store, logger } = this.options;
    try {
      const id = await store.inbox.admittedAs(botId, key);
      const event = id === undefined ? undefined : await store.inbox.get(id);
      // Queued now, before the chat's next message can be; already queued, nothing changes.
      if (event) await this.add(event.id, chatOf(event.journal as Journal), this.waiting.has(event.id), true);
    } catch (error) {
      logger.warn({ bot: botId, key, err: errorMessage(error) }, 'could not queue a redelivered event; the sweeper queues it');
    }
  }

  claim(record: string): Promise<boolean> {
    return this.options.store.claim(`cluster:send:${record}`, sendClaimMs).catch(() => false);
  }

  release(record: string): void {
    void this.options.store.delete(`cluster:send:${record}`).catch(() => undefined);
  }

  private async add(id: string, chat: string | undefined, notify: boolean, again: boolean): Promise<void> {
    const queue = this.queues[partitionOf(chat ?? id, this.queues.length)]!;
    const data: JobData = {};
    if (notify) data.notify = true;
    if (again) data.again = true;
    await queue.add('event', data, { jobId: id });
  }

  /** Starts the workers (with `run`), the sweeper, and the word on handled events (an ingress). */
  async start(): Promise<void> {
    const { options } = this;
    if (options.ingress) await this.listen();
    if (options.run) {
      // Workers block on Redis; theirs is a connection of its own (BullMQ needs it to retry forever).
      this.workerConnection = new Redis(options.url, { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(100 * 2 ** times, 2000) });
      this.workerConnection.on('error', () => {});
      const run = options.run;
      for (let i = 0; i < options.partitions; i++) {
        const worker = new Worker<JobData>(partitionName(i), (job, token) => this.track(this.process(job, token, run)), {
          connection: this.workerConnection,
          prefix: `${options.prefix}bull`,
          concurrency: 1,
          lockDuration: options.stallTimeoutMs,
          stalledInterval: Math.max(500, Math.round(options.stallTimeoutMs / 2)),
          // A job whose worker dies again and again (a message that crashes it) ends up failed, kept for an operator.
          maxStalledCount: 5,
          // A partition busy on another instance sends no wake-up; an idle worker looks again this often (s).
          // Redis wakes the longest-waiting worker first: jitter keeps one instance's workers from always
          // being first in line after they all timed out together, which would hand it every partition.
          drainDelay: 1 + Math.random() * 2,
        });
        worker.on('error', (error) => options.logger.warn({ queue: worker.name, err: errorMessage(error) }, 'work queue error'));
        worker.on('failed', (job, error) => options.logger.error({ event: job?.id, err: errorMessage(error) }, 'a queued event failed for good; it stays unfinished in the store'));
        this.workers.push(worker);
      }
      await Promise.all(this.workers.map((worker) => worker.waitUntilReady()));
    }
    this.sweeper.start();
  }

  private track(processing: Promise<void>): Promise<void> {
    const tracked = processing.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
    return tracked;
  }

  private async process(job: Job<JobData>, token: string | undefined, run: NonNullable<ClusterWorkOptions['run']>): Promise<void> {
    const id = job.id!;
    let end: RunEnd = 'left';
    try {
      // Taken in the instant the instance began stopping: back to its queue, for another worker.
      if (this.stopping) throw new Error('this instance is stopping');
      const event = await this.options.store.inbox.get(id);
      // Finished already: a job queued again by the sweeper after its event was done.
      if (!event) return;
      end = await run(event, job.data.again === true || job.attemptsStarted > 1 || job.stalledCounter > 0);
    } catch (error) {
      if (!this.stopping) {
        this.options.logger.warn({ event: id, err: errorMessage(error) }, 'could not take a queued event; it goes back to its queue');
        await new Promise((resolve) => setTimeout(resolve, failurePauseMs));
      }
    }
    if (end === 'left') {
      // Back at the head of its partition for the next worker. Should this fail too, the lock runs out and the stalled check does it.
      await job.moveToWait(token).catch(() => undefined);
      throw new WaitingError();
    }
    this.handled(id, job.data.notify === true);
  }

  /** Tells whoever waits for the event's replies: here at once, elsewhere over pub/sub. */
  private handled(id: string, notify: boolean): void {
    if (this.wake(id) || !notify) return;
    this.connection.publish(this.channel, id).catch((error: unknown) => this.options.logger.warn({ event: id, err: errorMessage(error) }, 'could not announce a handled event'));
  }

  private wake(id: string): boolean {
    const entry = this.waiting.get(id);
    if (!entry) return false;
    this.waiting.delete(id);
    entry.onHandled();
    return true;
  }

  private async listen(): Promise<void> {
    const subscriber = new Redis(this.options.url, { retryStrategy: (times) => Math.min(100 * 2 ** times, 2000) });
    subscriber.on('error', () => {});
    subscriber.on('message', (_channel: string, id: string) => {
      this.wake(id);
      // Waiters that never hear back (their event failed for good) are forgotten; their requests have timed out long since.
      if (this.waiting.size > 0) {
        const old = Date.now() - notifyForgetMs;
        for (const [key, entry] of this.waiting) {
          if (entry.at > old) break;
          this.waiting.delete(key);
        }
      }
    });
    this.subscriber = subscriber;
    await subscriber.subscribe(this.channel);
  }

  /** Workers take no new job from now on; the ones they run go on. */
  stopTaking(): void {
    this.stopping = true;
    this.sweeper.stop();
    for (const worker of this.workers) void worker.pause(true).catch(() => undefined);
  }

  /**
   * Waits (until `deadline`, a time in ms) for the jobs running here, then closes every connection.
   * A job still running then keeps its lock until it runs out, and another worker takes it over.
   */
  async close(deadline: number): Promise<void> {
    this.stopTaking();
    let timer: NodeJS.Timeout | undefined;
    const settled = Promise.allSettled([...this.running]).then(() => true);
    const finished = await Promise.race([settled, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
    await Promise.all(this.workers.map((worker) => worker.close(!finished).catch(() => undefined)));
    await Promise.all(this.queues.map((queue) => queue.close().catch(() => undefined)));
    for (const redis of [this.subscriber, this.workerConnection, this.connection]) redis?.disconnect();
  }
}
