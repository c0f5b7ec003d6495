// The app's access token: corp id + secret -> GET /cgi-bin/gettoken, cached and refreshed before
// it expires, one request however many callers are waiting.

import { call, WecomError, type WireOptions } from './wire.js';

/** errcodes that mean "this access token is no good": invalid (40014, 40001) or expired (42001). */
export const staleTokenCodes: ReadonlySet<number> = new Set([40001, 40014, 42001]);

export interface TokenOptions {
  apiRoot: string;
  corpId: string;
  corpSecret: string;
  wire: WireOptions;
}

interface Held {
  token: string;
  refreshAt: number;
}

export class AccessTokens {
  private held: Held | undefined;
  private pending: Promise<string> | undefined;

  constructor(private readonly options: TokenOptions) {}

  get(): Promise<string> {
    const held = this.held;
    if (held && Date.now() < held.refreshAt) return Promise.resolve(held.token);
    this.pending ??= this.fetch().finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** WeCom refused `token`: forget it, unless a newer one has already replaced it. */
  invalidate(token: string): void {
    if (this.held?.token === token) this.held = undefined;
  }

  private async fetch(): Promise<string> {
    const { apiRoot, corpId, corpSecret, wire } = this.options;
    const query = new URLSearchParams({ corpid: corpId, corpsecret: corpSecret });
    let answer;
    try {
      answer = await call('gettoken', `${apiRoot}/cgi-bin/gettoken?${query}`, { method: 'GET' }, { ...wire, timeoutMs: 10_000 });
    } catch (error) {
      if (error instanceof WecomError && error.errcode !== undefined) throw new WecomError(error.errcode, `${error.message}; check corpId and corpSecret`);
      throw error;
    }
    const ttlSeconds = Number(answer.expires_in);
    if (typeof answer.access_token !== 'string' || answer.access_token === '' || !(ttlSeconds > 0)) throw new WecomError(undefined, 'WeCom gettoken answered without access_token/expires_in');
    // Refresh ahead of expiry (5 minutes, or a third of a short lifetime), so no call carries a token about to die.
    this.held = { token: answer.access_token, refreshAt: Date.now() + ttlSeconds * 1000 - Math.min(300_000, (ttlSeconds * 1000) / 3) };
    return answer.access_token;
  }
}
