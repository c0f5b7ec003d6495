// API keys for the HTTP endpoint: Bearer auth in constant time, expiry, refresh with a grace period.
// One process keeps the key in its key file. Instances sharing a store keep it there, so a key
// refreshed on one is accepted by all (and the key file still shows an operator the key).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sleep } from '../../src/delivery/retry.js';
import { StoreError, type KeyValue } from '../../src/store/index.js';

interface KeyState {
  key: string;
  expiresAt: number;
  /** The key a refresh replaced, still accepted until `validUntil`. */
  previous?: { key: string; validUntil: number };
  /** Hash of the key in the config file this state started from: a new one there wins over the file. */
  configured?: string;
}

export type KeyCheck = { ok: true; ttlSeconds: number } | { ok: false; reason: string };

export class ApiKeys {
  private state: KeyState | undefined;
  /** When `state` was read from a shared store: past `sharedReadMs` it is read again. */
  private readAt = 0;

  /** `shared`: the store and key the state lives under when other instances share it. */
  constructor(
    private readonly file: string,
    private readonly configuredKey: string,
    private readonly ttlMs: number,
    private readonly graceMs: number,
    private readonly shared?: { store: KeyValue; key: string },
  ) {}

  /** Loads the saved key, or starts from the configured key, or generates one. Returns whether a new key was generated. */
  async load(): Promise<boolean> {
    const configured = this.configuredKey ? digest(this.configuredKey).toString('hex') : undefined;
    const usable = (saved: KeyState | undefined) => saved && saved.configured === configured && saved.expiresAt > Date.now();
    const saved = (await this.readShared()) ?? (await readState(this.file));
    if (usable(saved)) {
      this.state = saved;
      if (this.shared) await this.save();
      return false;
    }
    const generated = !this.configuredKey;
    // Instances starting together generate one key between them: the first makes it, the others take it.
    if (generated && this.shared && !(await this.shared.store.claim(`${this.shared.key}:init`, sharedLockMs))) {
      let made: KeyState | undefined;
      if (await this.waitFor(async () => usable((made = await this.readShared())))) {
        this.state = made;
        await this.save();
        return false;
      }
    }
    this.state = { key: this.configuredKey || newKey(), expiresAt: Date.now() + this.ttlMs, configured };
    await this.save();
    return generated;
  }

  /** Checks an Authorization header value. */
  async check(authorization: string | undefined): Promise<KeyCheck> {
    if (this.shared && Date.now() - this.readAt > sharedReadMs) await this.reread();
    const verdict = this.verdict(authorization);
    // A key another instance has just issued: look once more before refusing it.
    if (!verdict.ok && this.shared && verdict.reason === 'wrong api key' && (await this.reread())) return this.verdict(authorization);
    return verdict;
  }

  private verdict(authorization: string | undefined): KeyCheck {
    const state = this.state;
    if (!state) return { ok: false, reason: 'not ready' };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return { ok: false, reason: 'missing "Authorization: Bearer <api key>" header' };
    const given = digest(match[1]!);
    const now = Date.now();
    if (timingSafeEqual(given, digest(state.key))) {
      if (state.expiresAt <= now) return { ok: false, reason: 'api key has expired; ask the operator for a new one' };
      return { ok: true, ttlSeconds: this.ttlSeconds() };
    }
    if (state.previous && timingSafeEqual(given, digest(state.previous.key)) && state.previous.validUntil > now) return { ok: true, ttlSeconds: this.ttlSeconds() };
    return { ok: false, reason: 'wrong api key' };
  }

  /** Issues a new key; the current one keeps working for the grace period. Only call after check() passed. */
  async refresh(): Promise<{ key: string; ttlSeconds: number }> {
    // Shared: one refresh at a time across instances, each from the latest state, so no issued key is lost.
    const lock = this.shared && `${this.shared.key}:refresh`;
    if (lock && !(await this.waitFor(() => this.shared!.store.claim(lock, sharedLockMs)))) throw new StoreError('another instance holds the API key refresh');
    try {
      if (lock) await this.reread();
      const current = this.state!;
      const now = Date.now();
      this.state = { key: newKey(), expiresAt: now + this.ttlMs, previous: { key: current.key, validUntil: Math.min(now + this.graceMs, current.expiresAt) }, configured: current.configured };
      await this.save();
    } finally {
      if (lock) await this.shared!.store.delete(lock);
    }
    return { key: this.state.key, ttlSeconds: this.ttlSeconds() };
  }

  ttlSeconds(): number {
    return this.state ? Math.max(0, Math.floor((this.state.expiresAt - Date.now()) / 1000)) : 0;
  }

  private async readShared(): Promise<KeyState | undefined> {
    if (!this.shared) return undefined;
    const state = await this.shared.store.get<KeyState>(this.shared.key);
    this.readAt = Date.now();
    return state;
  }

  /** Takes the shared state, when there is one; true when it differs from what this instance had. */
  private async reread(): Promise<boolean> {
    const state = await this.readShared();
    if (!state || state.key === this.state?.key) return false;
    this.state = state;
    return true;
  }

  /** Polls `done` for up to sharedLockMs: a lock another instance holds for a moment. */
  private async waitFor(done: () => Promise<boolean | undefined>): Promise<boolean> {
    const deadline = Date.now() + sharedLockMs;
    while (Date.now() < deadline) {
      if (await done()) return true;
      await sleep(25);
    }
    return false;
  }

  /** The file is written to a temp file and renamed, so a crash mid-write never leaves a half key behind. */
  private async save(): Promise<void> {
    if (this.shared) await this.shared.store.set(this.shared.key, this.state);
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(this.state), { mode: 0o600 });
    await rename(temp, this.file);
  }
}

/** How long an instance trusts the shared key state it read (a key refreshed elsewhere is seen within it). */
const sharedReadMs = 1000;
/** How long another instance may hold the refresh (or first-start) lock. */
const sharedLockMs = 5000;

function newKey(): string {
  return `sbk_${randomBytes(32).toString('base64url')}`;
}

/** Comparing fixed-length digests keeps the comparison constant-time whatever the key lengths. */
function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

async function readState(file: string): Promise<KeyState | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as KeyState;
    return typeof parsed.key === 'string' && typeof parsed.expiresAt === 'number' ? parsed : undefined;
  } catch {
    return undefined;
  }
}
