// WAL checkpoints off the event loop. SQLite's own (wal_autocheckpoint) runs in the commit that
// crosses 1000 pages: it copies them into the database file and fsyncs both files, and
// better-sqlite3 is synchronous, so every request of the process waits for the disk meanwhile
// (on a slow disk about a third of the store's time; bench/README.md, "Where a's time goes").
// Here a worker thread with a connection of its own checkpoints instead, while commits go on.
//
// A checkpoint running beside commits never ends with the whole WAL copied (a commit always lands
// during it), and SQLite starts the WAL over only when it has been: it would grow without end. So
// each round is two checkpoints: one beside the commits, which copies nearly everything, then one
// with commits held back (queued, not blocking: the event loop runs on), which copies what came
// meanwhile. The next commit then starts the WAL over, as after SQLite's own.

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';

/** Commits between rounds: about SQLite's 1000-page autocheckpoint at the few pages a commit of ours writes. */
export const commitsPerRound = 64;

/**
 * Commits beside one checkpoint before the next ones wait for it. A worker starved of CPU (a busy
 * machine) would otherwise let commits that never pause grow the WAL for as long as it waits;
 * past this many the WAL's growth is bounded whatever the scheduling, as with SQLite's own.
 */
export const maxCommitsBeside = 4 * commitsPerRound;

/** The worker: one connection, one PASSIVE checkpoint per message; the answer is what SQLite says of the WAL, or the failure. */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { timeout: workerData.busyTimeoutMs });
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ log: row.log, checkpointed: row.checkpointed });
  } catch (error) {
    parentPort.postMessage({ error: String((error && error.message) || error) });
  }
});
`;

type Answer = { log: number; checkpointed: number } | { error: string };

/** What the checkpoints need of the write batch: holding its commits back while the WAL is finished, and letting them go. */
export interface Commits {
  hold(): void;
  release(): void;
}

export class Checkpoints {
  private worker: Worker | undefined;
  private commits = 0;
  /** The checkpoint under way: the one beside the commits, or the one with them held. */
  private running: 'beside' | 'held' | undefined;
  /** Commits made beside the checkpoint under way; at maxCommitsBeside the rest are held until it ends. */
  private besides = 0;
  /** Given up (the worker failed): SQLite's own checkpoints are back on. */
  private off = false;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    private readonly path: string,
    private readonly batch: Commits,
    private readonly busyTimeoutMs: number,
  ) {
    db.pragma('wal_autocheckpoint = 0');
  }

  /** After each commit: a round every commitsPerRound. The worker starts at the first, so a store that writes little never has one. */
  committed(): void {
    if (this.running === 'beside' && ++this.besides === maxCommitsBeside) this.batch.hold();
    if (this.off || this.running || this.closed || ++this.commits < commitsPerRound) return;
    this.commits = 0;
    this.start('beside');
  }

  /** Stops the worker (its connection closed first); the store's own close then checkpoints what is left. */
  close(): Promise<void> {
    const worker = this.worker;
    this.closed ??= worker
      ? new Promise<void>((resolve) => {
          worker.once('exit', () => resolve());
          // Held by the process until it has closed its connection: an unref'd worker is no reason to
          // wait, and a close awaited with nothing else to do would end the process in the middle.
          worker.ref();
          worker.postMessage('close');
        })
      : Promise.resolve();
    this.ended();
    return this.closed;
  }

  private start(kind: 'beside' | 'held'): void {
    try {
      this.worker ??= this.spawn();
    } catch {
      return this.giveUp();
    }
    this.running = kind;
    this.besides = 0;
    if (kind === 'held') this.batch.hold();
    this.worker.postMessage('checkpoint');
  }

  private spawn(): Worker {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(workerSource, { eval: true, workerData: { driver, path: this.path, busyTimeoutMs: this.busyTimeoutMs } });
    // Never what keeps the process alive; a store left open does not hold up its exit.
    worker.unref();
    worker.on('message', (answer: Answer) => this.answered(answer));
    worker.on('error', () => this.giveUp());
    worker.on('exit', () => {
      if (!this.closed) this.giveUp();
    });
    return worker;
  }

  private answered(answer: Answer): void {
    const ran = this.ended();
    if (this.closed || !ran) return;
    if ('error' in answer) return this.giveUp();
    if (ran === 'beside') this.start('held');
  }

  /** The checkpoint under way is over (answered, or no longer awaited): held commits go on. Returns which it was. */
  private ended(): 'beside' | 'held' | undefined {
    const ran = this.running;
    this.running = undefined;
    if (ran === 'held' || this.besides >= maxCommitsBeside) this.batch.release();
    this.besides = 0;
    return ran;
  }

  /** The worker is gone or failing: SQLite checkpoints in the commits again, as it does by default, so the WAL stays bounded. */
  private giveUp(): void {
    if (this.off || this.closed) return;
    this.off = true;
    this.ended();
    this.db.pragma('wal_autocheckpoint = 1000');
    void this.worker?.terminate();
    this.worker = undefined;
  }
}
