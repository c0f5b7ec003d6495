// The admin's UserSig for REST calls: generated locally from the app key (no network), reused
// until shortly before it expires, and regenerated at once when Tencent says it has expired.

import tlsSigApi from 'tls-sig-api-v2';

export interface UserSigOptions {
  sdkAppId: number;
  secretKey: string;
  identifier: string;
  /** How long each UserSig is valid. */
  ttlMs?: number;
  /** Regenerate this long before expiry, so a signature never expires in flight. */
  marginMs?: number;
}

export class UserSigs {
  private readonly api: InstanceType<typeof tlsSigApi.Api>;
  private held: { sig: string; refreshAt: number } | undefined;

  constructor(private readonly options: UserSigOptions) {
    this.api = new tlsSigApi.Api(options.sdkAppId, options.secretKey);
  }

  get(now = Date.now()): string {
    const held = this.held;
    if (held && now < held.refreshAt) return held.sig;
    const { ttlMs = 86_400_000, marginMs = Math.min(3_600_000, ttlMs / 4) } = this.options;
    const sig = this.api.genUserSig(this.options.identifier, Math.max(1, Math.floor(ttlMs / 1000)));
    this.held = { sig, refreshAt: now + ttlMs - marginMs };
    return sig;
  }

  /** Tencent refused `sig` as expired: the next get() makes a new one. */
  invalidate(sig: string): void {
    if (this.held?.sig === sig) this.held = undefined;
  }
}
