// The embedded default: one SQLite file (better-sqlite3, WAL). Writes are group-committed once
// per tick (batch.ts); reads first commit what is queued, so they see every write asked for.

import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database, { type Database as Db, type Statement } from 'better-sqlite3';
import { decode, encode, encodeJournal } from '../codec.js';
import { admittedAs, dedupKey, StoreError, type FinishOptions, type Inbox, type Leases, type NewEvent, type Outbox, type OutboxItem, type OutboxRecord, type OutboxState, type Store, type StoredEvent } from '../index.js';
import { WriteBatch } from './batch.js';
import { Checkpoints } from './checkpoints.js';
import { LocalLeases } from '../local-leases.js';
import { migrations } from './migrations.js';
import { LocalSignals } from '../signals.js';
import { updateEntry } from './update.js';

export interface SqliteOptions {
  path: string;
  /**
   * `normal`: a commit survives the process being killed (SIGKILL, OOM); the last commits before
   * a power cut or kernel crash may be lost. `full`: each commit is flushed to the disk as well.
   */
  sync?: 'normal' | 'full';
  now?: () => number;
}

/** Past this size, opening skips the full integrity check (it reads every page) and relies on SQLite's own checks as pages are read. */
const checkedSizeLimit = 256 * 1024 * 1024;
/** How long a write waits for another process's lock (a CLI command) before the batch fails; it blocks the event loop meanwhile. */
const busyTimeoutMs = 250;
const sweepEveryMs = 60_000;
const walSizeLimit = 8 * 1024 * 1024;

export class SqliteStore implements Store {
  readonly description: string;
  /** One process owns the file at a time (CLI commands only look in). */
  readonly shared = false;
  readonly inbox: Inbox;
  readonly outbox: Outbox;
  readonly leases: Leases = new LocalLeases(this);
  private readonly signals = new LocalSignals();
  private readonly db: Db;
  private readonly batch: WriteBatch;
  private readonly checkpoints: Checkpoints;
  private readonly now: () => number;
  private readonly statements: ReturnType<typeof prepare>;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  private constructor(db: Db, readonly path: string, now: () => number) {
    this.db = db;
    this.now = now;
    this.description = `sqlite ${path}`;
    this.statements = prepare(db);
    this.batch = new WriteBatch(db, (error) => writeFailure(path, error));
    this.checkpoints = new Checkpoints(db, path, this.batch, busyTimeoutMs);
    this.batch.onCommit = () => this.checkpoints.committed();
    this.inbox = new SqliteInbox(this);
    this.outbox = new SqliteOutbox(this);
    this.sweeper = setInterval(() => void this.write(() => this.statements.sweep.run(this.now())).catch(() => {}), sweepEveryMs).unref();
  }

  /** Opens (creating it and its folder on first use) and migrates the database; a file that is not a usable database is a StoreError saying what to do. */
  static open(options: SqliteOptions): SqliteStore {
    const path = resolve(options.path);
    let db: Db | undefined;
    try {
      mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { timeout: busyTimeoutMs });
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
      db.pragma('foreign_keys = ON');
      // A checkpoint reuses the WAL but never shrinks it: one large transaction (the hourly burst
      // of expired dedup keys swept) would leave it that size for good. Trimmed back to this past a
      // checkpoint; the steady WAL is the 1000-page autocheckpoint, about 4 MB.
      db.pragma(`journal_size_limit = ${walSizeLimit}`);
      if (size(path) <= checkedSizeLimit) {
        const verdict = db.pragma('quick_check(1)', { simple: true });
        if (verdict !== 'ok') throw Object.assign(new Error(String(verdict)), { code: 'SQLITE_CORRUPT' });
      }
      migrate(db, path);
    } catch (error) {
      db?.close();
      throw openFailure(path, error);
    }
    return new SqliteStore(db, path, options.now ?? Date.now);
  }

  get available(): boolean {
    return !this.closed;
  }

  write<T>(run: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError(`the store ${this.path} is closed`));
    return this.batch.write(run);
  }

  read<T>(run: () => T): T {
    if (this.closed) throw new StoreError(`the store ${this.path} is closed`);
    this.batch.flush();
    return run();
  }

  get sql(): ReturnType<typeof prepare> {
    return this.statements;
  }

  get time(): number {
    return this.now();
  }

  claim(key: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    return this.write(() => this.statements.claim.run(key, 'true', now + ttlMs, now).changes === 1);
  }

  async get<T>(key: string): Promise<T | undefined> {
    const row = this.read(() => this.statements.get.get(key, this.now()) as { value: string } | undefined);
    return row ? decode<T>(row.value) : undefined;
  }

  set(key: string, value: unknown, ttlMs?: number): Promise<void> {
    const text = encode(value);
    const expires = ttlMs === undefined || !Number.isFinite(ttlMs) ? null : this.now() + ttlMs;
    return this.write(() => void this.statements.set.run(key, text, expires));
  }

  delete(key: string): Promise<void> {
    return this.write(() => void this.statements.delete.run(key));
  }

  update<T>(key: string, change: (old: T | undefined) => T | undefined, ttlMs?: number): Promise<T | undefined> {
    return updateEntry(this, key, change, ttlMs);
  }

  notify(topic: string): Promise<void> {
    return this.signals.notify(topic);
  }

  watch(topic: string, listener: () => void): Promise<() => void> {
    return this.signals.watch(topic, listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.sweeper);
    this.closed = true;
    await this.checkpoints.close();
    this.batch.flush();
    this.db.close();
  }
}

class SqliteInbox implements Inbox {
  constructor(private readonly store: SqliteStore) {}

  admit(event: NewEvent, dedupTtlMs: number): Promise<boolean> {
    const { store } = this;
    const journal = encodeJournal(event.journal);
    const now = store.time;
    return store.write(() => {
      if (event.key !== undefined && store.sql.claim.run(dedupKey(event.botId, event.key), JSON.stringify(event.id), now + dedupTtlMs, now).changes !== 1) return false;
      store.sql.admit.run(event.id, event.botId, event.key ?? null, journal, now);
      return true;
    });
  }

  update(id: string, journal: unknown): Promise<void> {
    const text = encodeJournal(journal);
    return this.store.write(() => void this.store.sql.update.run(text, id));
  }

  finish(id: string, options?: FinishOptions): Promise<void> {
    const { sql } = this.store;
    if (options?.replies === false) return this.store.write(() => void sql.finish.run(id));
    const delivered = options?.delivered;
    return this.store.write(() => {
      sql.finish.run(id);
      if (delivered) sql.forgetDeliveredAnd.run(id, delivered);
      else sql.forgetDelivered.run(id);
    });
  }

  admittedAs(botId: string, key: string): Promise<string | undefined> {
    return admittedAs(this.store, botId, key);
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    const row = this.store.read(() => this.store.sql.event.get(id) as EventRow | undefined);
    return row && eventOf(row);
  }

  async unfinished(): Promise<StoredEvent[]> {
    const rows = this.store.read(() => this.store.sql.unfinished.all() as EventRow[]);
    return rows.map(eventOf);
  }
}

interface EventRow {
  seq: number;
  id: string;
  bot: string;
  key: string | null;
  journal: string;
}

function eventOf(row: EventRow): StoredEvent {
  return { seq: row.seq, id: row.id, botId: row.bot, ...(row.key === null ? {} : { key: row.key }), journal: decode(row.journal) };
}

interface OutboxRow {
  key: string;
  event_id: string;
  idx: number;
  message: string;
  state: OutboxState;
  ids: string;
  error: string | null;
  attempts: number;
  created: number;
  updated: number;
}

class SqliteOutbox implements Outbox {
  constructor(private readonly store: SqliteStore) {}

  add(items: readonly OutboxItem[]): Promise<void> {
    const now = this.store.time;
    const rows = items.map((item) => [item.key, item.eventId, item.index, encode(item.message), now, now] as const);
    return this.store.write(() => {
      for (const row of rows) this.store.sql.add.run(...row);
    });
  }

  attempted(key: string, ids: readonly string[], error?: string): Promise<void> {
    const now = this.store.time;
    return this.store.write(() => void this.store.sql.attempted.run(JSON.stringify(ids), error ?? null, now, key));
  }

  delivered(key: string, ids: readonly string[]): Promise<void> {
    const now = this.store.time;
    return this.store.write(() => void this.store.sql.delivered.run(JSON.stringify(ids), now, key));
  }

  dead(key: string, ids: readonly string[], error: string): Promise<void> {
    const now = this.store.time;
    return this.store.write(() => void this.store.sql.dead.run(JSON.stringify(ids), error, now, key));
  }

  async get(key: string): Promise<OutboxRecord | undefined> {
    const row = this.store.read(() => this.store.sql.outboxGet.get(key) as OutboxRow | undefined);
    return row ? record(row) : undefined;
  }

  async ofEvent(eventId: string): Promise<OutboxRecord[]> {
    return this.store.read(() => (this.store.sql.ofEvent.all(eventId) as OutboxRow[]).map(record));
  }

  async list(state: OutboxState, limit = -1): Promise<OutboxRecord[]> {
    const { sql } = this.store;
    // Dead letters and retries by their index; the replies under way (few, and listed only at a start) by a scan.
    const statement = state === 'dead' || state === 'retry' ? sql.listKept : sql.listUnderWay;
    return this.store.read(() => (statement.all(state, limit) as OutboxRow[]).map(record));
  }

  retry(key: string): Promise<boolean> {
    const now = this.store.time;
    return this.store.write(() => this.store.sql.retry.run(now, key).changes === 1);
  }

  drop(key: string): Promise<boolean> {
    return this.store.write(() => this.store.sql.drop.run(key).changes === 1);
  }
}

function record(row: OutboxRow): OutboxRecord {
  return {
    key: row.key,
    eventId: row.event_id,
    index: row.idx,
    message: decode(row.message),
    state: row.state,
    ids: JSON.parse(row.ids) as string[],
    ...(row.error === null ? {} : { error: row.error }),
    attempts: row.attempts,
    createdAt: row.created,
    updatedAt: row.updated,
  };
}

// better-sqlite3 declares Statement in a namespace it does not export, so the published .d.ts can
// only name it through an interface of ours.
interface PreparedStatement extends Statement {}

function prepare(db: Db) {
  const s = (sql: string): PreparedStatement => db.prepare(sql);
  return {
    // Taken when absent or expired; `changes` is 1 exactly when this call took it.
    claim: s(`INSERT INTO kv (key, value, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires WHERE kv.expires IS NOT NULL AND kv.expires <= ?`),
    get: s(`SELECT value FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)`),
    entry: s(`SELECT value, expires FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)`),
    set: s(`INSERT INTO kv (key, value, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires`),
    delete: s(`DELETE FROM kv WHERE key = ?`),
    sweep: s(`DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ?`),
    admit: s(`INSERT INTO events (id, bot, key, journal, created) VALUES (?, ?, ?, ?, ?)`),
    update: s(`UPDATE events SET journal = ? WHERE id = ?`),
    finish: s(`DELETE FROM events WHERE id = ?`),
    unfinished: s(`SELECT seq, id, bot, key, journal FROM events ORDER BY seq`),
    event: s(`SELECT seq, id, bot, key, journal FROM events WHERE id = ?`),
    forgetDelivered: s(`DELETE FROM outbox WHERE event_id = ? AND state = 'delivered'`),
    // The same, and the item delivered just now (not marked: it would be marked and deleted in one commit).
    forgetDeliveredAnd: s(`DELETE FROM outbox WHERE event_id = ? AND (state = 'delivered' OR key = ?)`),
    add: s(`INSERT INTO outbox (key, event_id, idx, message, state, created, updated) VALUES (?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT(key) DO NOTHING`),
    attempted: s(`UPDATE outbox SET ids = ?, error = coalesce(?, error), attempts = attempts + 1, updated = ? WHERE key = ?`),
    delivered: s(`UPDATE outbox SET state = 'delivered', ids = ?, error = NULL, attempts = attempts + 1, updated = ? WHERE key = ?`),
    dead: s(`UPDATE outbox SET state = 'dead', ids = ?, error = ?, updated = ? WHERE key = ?`),
    outboxGet: s(`SELECT * FROM outbox WHERE key = ?`),
    ofEvent: s(`SELECT * FROM outbox WHERE event_id = ? ORDER BY idx`),
    // The IN term, as outbox_state's own WHERE says it, is what lets SQLite use that partial index.
    listKept: s(`SELECT * FROM outbox WHERE state = ? AND state IN ('dead', 'retry') ORDER BY created, key LIMIT ?`),
    listUnderWay: s(`SELECT * FROM outbox WHERE state = ? ORDER BY created, key LIMIT ?`),
    retry: s(`UPDATE outbox SET state = 'retry', updated = ? WHERE key = ? AND state = 'dead'`),
    drop: s(`DELETE FROM outbox WHERE key = ? AND state = 'dead'`),
  };
}

function migrate(db: Db, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > migrations.length)
    throw new StoreError(`the store ${path} has schema version ${version}, made by a newer Switchboard than this one (which knows ${migrations.length}); run that version, or point store.path at another file`);
  for (let next = version; next < migrations.length; next++) {
    db.transaction(() => {
      db.exec(migrations[next]!);
      db.pragma(`user_version = ${next + 1}`);
    })();
  }
}

function size(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function sqliteCode(error: unknown): string {
  return String((error as { code?: unknown }).code ?? '');
}

function openFailure(path: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const code = sqliteCode(error);
  const reason = `${code ? `${code}: ` : ''}${(error as Error).message}`;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    const aside = `${path}.broken-${new Date().toISOString().slice(0, 10)}`;
    return new StoreError(
      `the store file ${path} is not a usable SQLite database (${reason}). Nothing was changed. Move it aside and start again, and a new one is created: mv ${path} ${aside} (and ${path}-wal, ${path}-shm if present). Unfinished events and dead letters in the old file are not carried over.`,
    );
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'EACCES' || code === 'EROFS' || code === 'ENOENT')
    return new StoreError(`cannot open the store file ${path} (${reason}); check that its folder exists and is writable, or set store.path to another file`);
  return new StoreError(`cannot open the store file ${path} (${reason})`);
}

/** A commit that failed: what it means for an operator. */
function writeFailure(path: string, error: unknown): StoreError {
  const code = sqliteCode(error);
  const reason = `${code ? `${code}: ` : ''}${(error as Error).message}`;
  if (code.startsWith('SQLITE_FULL')) return new StoreError(`the store ${path} cannot take writes: the disk is full (${reason})`);
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_IOERR')) return new StoreError(`the store ${path} cannot take writes: the file or its disk is read-only or failing (${reason})`);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return new StoreError(`the store ${path} cannot take writes: another process holds its lock (${reason})`);
  return new StoreError(`the store ${path} cannot take writes (${reason})`);
}
