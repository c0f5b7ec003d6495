// API keys for the HTTP endpoint: Bearer auth in constant time, expiry, refresh with a grace period.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

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

  constructor(
    private readonly file: string,
    private readonly configuredKey: string,
    private readonly ttlMs: number,
    private readonly graceMs: number,
  ) {}

  /** Loads the key file, or starts from the configured key, or generates one. Returns whether a new key was generated. */
  async load(): Promise<boolean> {
    const saved = await readState(this.file);
    const configured = this.configuredKey ? digest(this.configuredKey).toString('hex') : undefined;
    if (saved && saved.configured === configured && saved.expiresAt > Date.now()) {
      this.state = saved;
      return false;
    }
    const generated = !this.configuredKey;
    this.state = { key: this.configuredKey || newKey(), expiresAt: Date.now() + this.ttlMs, configured };
    await this.save();
    return generated;
  }

  /** Checks an Authorization header value. */
  check(authorization: string | undefined): KeyCheck {
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
    const current = this.state!;
    const now = Date.now();
    this.state = { key: newKey(), expiresAt: now + this.ttlMs, previous: { key: current.key, validUntil: Math.min(now + this.graceMs, current.expiresAt) }, configured: current.configured };
    await this.save();
    return { key: this.state.key, ttlSeconds: this.ttlSeconds() };
  }

  ttlSeconds(): number {
    return this.state ? Math.max(0, Math.floor((this.state.expiresAt - Date.now()) / 1000)) : 0;
  }

  /** Written to a temp file and renamed, so a crash mid-write never leaves a half key behind. */
  private async save(): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(this.state), { mode: 0o600 });
    await rename(temp, this.file);
  }
}

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
