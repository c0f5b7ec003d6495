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
// Each partition's worker runs on one instance at a time, under a lease `conn:work:p<i>`; the
// partitions are shared out evenly among the instances that run workers (balance.ts, on the
// roster `workers`), as a sharded gateway's shards are. Left to BullMQ alone, every instance
// would wait on every partition and a busy partition would stay with whichever worker completed
// its last job (it fetches the next in the same step): one instance ends up with most of the
// work while the others spend their time asking. The global concurrency of 1 stays the
// guarantee of order: a partition handed over while its job runs waits for that job to end.
// An instance that dies holds its partitions until their leases run out (`cluster.stallTimeout`,
// as its jobs' locks); then another takes them, and its stalled-job check takes the job over.

import { setMaxListeners } from 'node:events';
import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { Supervisor, type SupervisedConnection } from '../inbound/supervisor.js';
import { chatOf, type WorkQueue } from '../pipeline/work.js';
import type { Journal } from '../pipeline/journal.js';
import type { RunEnd } from '../pipeline/handle.js';
import { errorMessage } from '../inbound/supervisor.js';
import type { Logger } from '../runtime/logger.js';
import { StoreError, type Store, type StoredEvent } from '../store/index.js';
import { Balancer } from './balance.js';
import { partitionName, partitionOf } from './partitions.js';
import { Sweeper } from './sweeper.js';

export interface ClusterWorkOptions {
  /** The Redis of the store, and its key prefix: the queues live under `<prefix>bull:`. */
  url: string;
  prefix: string;
  /** The store's command timeout: an add that Redis leaves unanswered this long fails (the event is left to the sweeper). */
  commandTimeoutMs?: number;
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
  /** One per partition: runs its worker while this instance holds the partition's lease. */
  private readonly partitions: Supervisor[] = [];
  private balancer: Balancer | undefined;
  /** Every partition's worker closed (its job done) and its lease given up, once stopTaking() was called. */
  private partitionsStopped: Promise<unknown> | undefined;
  /** Aborted when closing runs past its deadline: workers stop waiting for their jobs (their locks run out for another worker). */
  private readonly letGo = new AbortController();
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
    // Every partition's worker closing at once waits on it: as many listeners as partitions, no leak.
    setMaxListeners(options.partitions + 1, this.letGo.signal);
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
    const connection = new Redis(options.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 5000, commandTimeout: options.commandTimeoutMs, retryStrategy: (times) => Math.min(100 * 2 ** times, 2000) });
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

  /** The partitions whose worker runs here now (their lease held). */
  get held(): string[] {
    return this.partitions.flatMap((partition, i) => (partition.held ? [partitionName(i)] : []));
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
      // A partition's lease runs out when its worker would be found stalled: a dead instance's partitions move as its jobs do.
      this.balancer = new Balancer(options.store.leases, options.stallTimeoutMs, options.logger, { roster: 'workers', releaseStep: options.partitions, signals: options.store });
      await this.balancer.start();
      for (let i = 0; i < options.partitions; i++) {
        const lease = this.balancer.lease('partitions', `work:${partitionName(i)}`, options.logger);
        const partition = new Supervisor(this.partitionWorker(i, options.run), options.logger, undefined, lease);
        this.partitions.push(partition);
        partition.start();
      }
    }
    this.sweeper.start();
  }

  /** A session of a partition held here: its worker runs until the lease is lost, handed over, or the instance stops. */
  private partitionWorker(index: number, run: NonNullable<ClusterWorkOptions['run']>): SupervisedConnection {
    const { options } = this;
    return {
      name: partitionName(index),
      session: async ({ signal, alive }) => {
        // Stopping: no new worker (its supervisor is being stopped, which ends this session at once).
        if (this.stopping) return await aborted(signal);
        const worker = new Worker<JobData>(partitionName(index), (job, token) => this.track(this.process(job, token, run)), {
          connection: this.workerConnection!,
          prefix: `${options.prefix}bull`,
          concurrency: 1,
          lockDuration: options.stallTimeoutMs,
          stalledInterval: Math.max(500, Math.round(options.stallTimeoutMs / 2)),
          // A job whose worker dies again and again (a message that crashes it) ends up failed, kept for an operator.
          maxStalledCount: 5,
          // How long an idle worker blocks before it looks again (s). BullMQ's default of 5 measured at
          // less than half the bench's echo throughput, for a reason not found; 2 (and 1 to 3) did not.
          drainDelay: 2,
        });
        worker.on('error', (error) => options.logger.warn({ queue: worker.name, err: errorMessage(error) }, 'work queue error'));
        worker.on('failed', (job, error) => options.logger.error({ event: job?.id, err: errorMessage(error) }, 'a queued event failed for good; it stays unfinished in the store'));
        try {
          await worker.waitUntilReady();
          alive();
          await aborted(signal);
        } finally {
          // Handed over or stopping: the job it runs ends first (the next holder's worker waits for it, by the global concurrency).
          await unlessAborted(worker.close().catch(() => undefined), this.letGo.signal);
        }
      },
    };
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

  /** Workers take no new job from now on; the ones they run go on, and each partition goes to another instance once its job is done. */
  stopTaking(): void {
    this.stopping = true;
    this.sweeper.stop();
    // Counted out of the workers at once, so the others' shares grow to take every partition.
    this.partitionsStopped ??= Promise.all([this.balancer?.stop(), ...this.partitions.map((partition) => partition.stop())]);
  }

  /**
   * Waits (until `deadline`, a time in ms) for the jobs running here, then closes every connection.
   * A job still running then keeps its lock until it runs out, and another worker takes it over.
   */
  async close(deadline: number): Promise<void> {
    this.stopTaking();
    let timer: NodeJS.Timeout | undefined;
    const settled = Promise.allSettled([...this.running, this.partitionsStopped]).then(() => true);
    const finished = await Promise.race([settled, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
    if (!finished) this.letGo.abort();
    await this.partitionsStopped;
    await Promise.all(this.queues.map((queue) => queue.close().catch(() => undefined)));
    for (const redis of [this.subscriber, this.workerConnection, this.connection]) redis?.disconnect();
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

/** Waits for `work`, or for `signal`, whichever comes first; the listener goes with it (one per session ended would pile up on a signal that lives as long as the instance). */
async function unlessAborted(work: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  let onAbort: () => void = () => {};
  const abort = new Promise<void>((resolve) => signal.addEventListener('abort', (onAbort = () => resolve()), { once: true }));
  try {
    await Promise.race([work, abort]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
