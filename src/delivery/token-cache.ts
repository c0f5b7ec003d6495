// One access token per credential: fetched once, reused until shortly before it expires,
// shared by every caller that needs a new one (single flight), and forgotten when the platform
// refuses it so the next call fetches afresh. Adapters say only how to fetch one.

export interface IssuedToken<T> {
  value: T;
  /** How long the platform says it is valid. */
  ttlMs: number;
}

export interface TokenCacheOptions {
  /** How long before expiry to fetch a new one; by default 5 minutes, or a third of a short lifetime. */
  refreshBeforeMs?: (ttlMs: number) => number;
  /**
   * Whether a failed refresh may fall back on the token still held while it is valid (a token
   * endpoint briefly down is not yet a failure); an error saying the credentials are wrong may not.
   */
  keepOnFailure?: (error: unknown) => boolean;
  now?: () => number;
}

interface Held<T> {
  value: T;
  refreshAt: number;
  expiresAt: number;
}

export class TokenCache<T = string> {
  private held: Held<T> | undefined;
  private pending: Promise<T> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly fetch: () => Promise<IssuedToken<T>>,
    private readonly options: TokenCacheOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  get(): Promise<T> {
    const held = this.held;
    if (held && this.now() < held.refreshAt) return Promise.resolve(held.value);
    this.pending ??= this.refresh(held).finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** The platform refused `value`: forget it, unless a newer one has already replaced it. */
  invalidate(value: T): void {
    if (this.held?.value === value) this.held = undefined;
  }

  private async refresh(previous: Held<T> | undefined): Promise<T> {
    try {
      const { value, ttlMs } = await this.fetch();
      const now = this.now();
      const before = this.options.refreshBeforeMs?.(ttlMs) ?? Math.min(300_000, ttlMs / 3);
      this.held = { value, expiresAt: now + ttlMs, refreshAt: now + ttlMs - before };
      return value;
    } catch (error) {
      if (previous && this.now() < previous.expiresAt && this.options.keepOnFailure?.(error)) return previous.value;
      throw error;
    }
  }
}
