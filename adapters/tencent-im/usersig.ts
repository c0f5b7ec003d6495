// The admin's UserSig for REST calls: generated locally from the app key (no network), held in
// the core's TokenCache (reused until shortly before it expires, forgotten when Tencent says it
// has expired). This says only how one is made.

import tlsSigApi from 'tls-sig-api-v2';
import { TokenCache } from '../../src/delivery/token-cache.js';

export interface UserSigOptions {
  sdkAppId: number;
  secretKey: string;
  identifier: string;
  /** How long each UserSig is valid. */
  ttlMs?: number;
  now?: () => number;
}

export type UserSigs = TokenCache<string>;

export function userSigs(options: UserSigOptions): UserSigs {
  const { sdkAppId, secretKey, identifier, ttlMs = 86_400_000, now } = options;
  const api = new tlsSigApi.Api(sdkAppId, secretKey);
  return new TokenCache(async () => ({ value: api.genUserSig(identifier, Math.max(1, Math.floor(ttlMs / 1000))), ttlMs }), {
    // Regenerated well ahead, so a signature never expires in flight.
    refreshBeforeMs: (ttl) => Math.min(3_600_000, ttl / 4),
    ...(now ? { now } : {}),
  });
}
