// The app access token: AppID + AppSecret -> a token QQ accepts for about two hours. The core's
// TokenCache holds it (single flight, refreshed ahead, forgotten on a 401); this says only how
// QQ issues one.

import type { Dispatcher } from 'undici';
import { fatal, PlatformError, retryable } from '../../src/delivery/retry.js';
import { TokenCache, type IssuedToken } from '../../src/delivery/token-cache.js';
import { undici } from '../../src/net/undici.js';

const { request } = undici();

/** The token endpoint refused the credentials (rejected: fatal) or could not be reached (not rejected: retryable). */
export class TokenError extends PlatformError {
  constructor(
    message: string,
    readonly rejected: boolean,
  ) {
    super(message, rejected ? fatal : retryable);
  }
}

export interface TokenSourceOptions {
  appId: string;
  appSecret: string;
  tokenUrl: string;
  dispatcher?: Dispatcher;
  timeoutMs?: number;
  now?: () => number;
}

export type AccessTokens = TokenCache<string>;

export function accessTokens(options: TokenSourceOptions): AccessTokens {
  return new TokenCache(() => fetchToken(options), {
    // QQ issues a new token only in the old one's last 60 s (before that it hands back the same
    // one), so the refresh comes inside that minute, early enough to never send an expired one.
    refreshBeforeMs: (ttlMs) => Math.min(50_000, ttlMs / 3),
    // A refresh that fails while the old token is still valid is not yet a failure; wrong credentials are.
    keepOnFailure: (error) => !(error instanceof TokenError && error.rejected),
    ...(options.now ? { now: options.now } : {}),
  });
}

async function fetchToken(options: TokenSourceOptions): Promise<IssuedToken<string>> {
  const { appId, appSecret, tokenUrl, dispatcher, timeoutMs = 10_000 } = options;
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
  if (response.statusCode >= 500 || response.statusCode === 429 || !body) throw new TokenError(`token endpoint answered HTTP ${response.statusCode}`, false);
  // expires_in is a string ("7200") in QQ's answers; accept a number too.
  const ttlSeconds = Number(body.expires_in);
  if (typeof body.access_token !== 'string' || body.access_token === '' || !(ttlSeconds > 0)) {
    const detail = typeof body.message === 'string' ? `${body.message}${body.code !== undefined ? ` (code ${String(body.code)})` : ''}` : `HTTP ${response.statusCode}`;
    throw new TokenError(`QQ refused the app credentials: ${detail}; check appId and appSecret`, true);
  }
  return { value: body.access_token, ttlMs: ttlSeconds * 1000 };
}
