// The SQLite schema, one step per version. A database records the last step applied in
// PRAGMA user_version; opening it applies the steps it lacks, each in its own transaction.
// Never edit a step that has shipped: add the next one.

export const migrations: readonly string[] = [
  // 1: key-value entries (dedup keys among them), the inbox/journal, the outbox.
  `
  CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires INTEGER
  ) WITHOUT ROWID;
  CREATE INDEX kv_expires ON kv(expires) WHERE expires IS NOT NULL;

  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    bot TEXT NOT NULL,
    key TEXT,
    journal TEXT NOT NULL,
    created INTEGER NOT NULL
  );

  CREATE TABLE outbox (
    key TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'retry')),
    ids TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX outbox_event ON outbox(event_id, idx);
  CREATE INDEX outbox_state ON outbox(state, created);
  `,
  // 2: only the replies an operator lists by state (dead letters, those queued for a retry) are in
  // outbox_state. A reply's usual life, pending then delivered then deleted within moments, moved
  // an entry of that index at each step, on the hot path of every message.
  `
  DROP INDEX outbox_state;
  CREATE INDEX outbox_state ON outbox(state, created) WHERE state IN ('dead', 'retry');
  `,
];
