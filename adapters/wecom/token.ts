// The app's access token: corp id + secret -> GET /cgi-bin/gettoken, held by the core's token
// cache (refreshed before it expires, one request however many callers are waiting).

import { fatal } from '../../src/delivery/retry.js';
import { TokenCache } from '../../src/delivery/token-cache.js';
import { call, WecomError, type WireOptions } from './wire.js';

export interface TokenOptions {
  apiRoot: string;
  corpId: string;
  corpSecret: string;
  wire: WireOptions;
}

export type AccessTokens = TokenCache<string>;

export function accessTokens(options: TokenOptions): AccessTokens {
  return new TokenCache(() => fetchToken(options), {
    // WeCom out of reach is not yet a failure while the token held is valid; WeCom refusing the credentials is.
    keepOnFailure: (error) => !(error instanceof WecomError && error.errcode !== undefined),
  });
}

async function fetchToken({ apiRoot, corpId, corpSecret, wire }: TokenOptions): Promise<{ value: string; ttlMs: number }> {
  const query = new URLSearchParams({ corpid: corpId, corpsecret: corpSecret });
  let answer;
  try {
    answer = await call('gettoken', `${apiRoot}/cgi-bin/gettoken?${query}`, { method: 'GET', repeatable: true }, { ...wire, timeoutMs: 10_000 });
  } catch (error) {
    // 40001 here is the secret refused, not a token gone stale: no refresh can fix it.
    const refused = error instanceof WecomError && error.errcode !== undefined && (error.failure.kind === 'auth' || error.failure.kind === 'fatal');
    if (refused) throw new WecomError(error.errcode, `${error.message}; check corpId and corpSecret`, fatal);
    throw error;
  }
  const ttlSeconds = Number(answer.expires_in);
  if (typeof answer.access_token !== 'string' || answer.access_token === '' || !(ttlSeconds > 0)) throw new WecomError(undefined, 'WeCom gettoken answered without access_token/expires_in');
  return { value: answer.access_token, ttlMs: ttlSeconds * 1000 };
}
