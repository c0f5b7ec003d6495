// The app access token: AppID + AppSecret -> a token QQ accepts for about two hours.

import { request, type Dispatcher } from 'undici';

/** The token endpoint refused the credentials (rejected) or could not be reached (not rejected). */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(
    message: string,
    readonly rejected: boolean,
  ) {
    super(message);
  }
}

export interface TokenSourceOptions {
  appId: string;
  appSecret: string;
  tokenUrl: string;
  dispatcher?: Dispatcher;
  timeoutMs?: number;
}

interface Held {
  token: string;
  /** When to fetch a fresh one: ahead of expiry, since QQ only issues a new token in the old one's last 60 s. */
  refreshAt: number;
  expiresAt: number;
}

/**
 * Fetches the token once, reuses it until shortly before it expires, and lets every caller
 * that needs a new one share a single request (single flight).
 */
export class AccessTokens {
  private held: Held | undefined;
  private pending: Promise<string> | undefined;

  constructor(private readonly options: TokenSourceOptions) {}

  get(): Promise<string> {
    const held = this.held;
    if (held && Date.now() < held.refreshAt) return Promise.resolve(held.token);
    this.pending ??= this.refresh(held).finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** The OpenAPI refused `token` (401): forget it, unless a newer one has already replaced it. */
  invalidate(token: string): void {
    if (this.held?.token === token) this.held = undefined;
  }

  private async refresh(previous: Held | undefined): Promise<string> {
    try {
      const { token, ttlMs } = await this.fetch();
      const now = Date.now();
      this.held = { token, expiresAt: now + ttlMs, refreshAt: now + ttlMs - Math.min(50_000, ttlMs / 3) };
      return token;
    } catch (error) {
      // A refresh that fails while the old token is still valid is not yet a failure.
      if (previous && Date.now() < previous.expiresAt && !(error instanceof TokenError && error.rejected)) return previous.token;
      throw error;
    }
  }

  private async fetch(): Promise<{ token: string; ttlMs: number }> {
    const { appId, appSecret, tokenUrl, dispatcher, timeoutMs = 10_000 } = this.options;
    let response: Dispatcher.ResponseData;
    try {
      response = await request(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ appId, clientSecret: appSecret }),
        dispatcher,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (error) {
      throw new TokenError(`token endpoint unreachable: ${(error as Error).message}`, false);
    }
    const body = (await response.body.json().catch(() => undefined)) as { access_token?: unknown; expires_in?: unknown; code?: unknown; message?: unknown } | undefined;
    if (response.statusCode >= 500 || !body) throw new TokenError(`token endpoint answered HTTP ${response.statusCode}`, false);
    // expires_in is a string ("7200") in QQ's answers; accept a number too.
    const ttlSeconds = Number(body.expires_in);
    if (typeof body.access_token !== 'string' || body.access_token === '' || !(ttlSeconds > 0)) {
      const detail = typeof body.message === 'string' ? `${body.message}${body.code !== undefined ? ` (code ${String(body.code)})` : ''}` : `HTTP ${response.statusCode}`;
      throw new TokenError(`QQ refused the app credentials: ${detail}; check appId and appSecret`, true);
    }
    return { token: body.access_token, ttlMs: ttlSeconds * 1000 };
  }
}
