// Callback authentication (IM "Webhook Overview", security considerations): with a token set,
// Tencent adds RequestTime (unix seconds) and Sign = hex(sha256(Token + RequestTime)) to the URL.

import { createHash, timingSafeEqual } from 'node:crypto';

export function callbackSign(token: string, requestTime: string): string {
  return createHash('sha256').update(token + requestTime).digest('hex');
}

/** `probe`: signed, but for no app: answered OK and never handled (see checkCallback). */
export type CallbackCheck = { ok: true; probe?: true } | { ok: false; status: 401 | 403; reason: string };

export interface CallbackQuery {
  sdkAppId: string | undefined;
  requestTime: string | undefined;
  sign: string | undefined;
}

/**
 * Checks the signature (when a token is configured), its age, and that the callback is for
 * our app. The Sign covers only the token and the time, not the app, the command or the body:
 * a signed request without SdkAppid (a console URL check, or one of another app's callbacks
 * replayed with its SdkAppid removed, should the token be shared) is a probe, never an event.
 */
export function checkCallback(query: CallbackQuery, expect: { sdkAppId: number; token: string | undefined; toleranceMs: number }, now = Date.now()): CallbackCheck {
  const { token, toleranceMs } = expect;
  if (token !== undefined) {
    const { requestTime, sign } = query;
    if (!requestTime || !sign) return { ok: false, status: 401, reason: 'RequestTime and Sign are required (callback authentication is on)' };
    if (!/^\d{1,12}$/.test(requestTime)) return { ok: false, status: 401, reason: 'RequestTime is not a unix time' };
    if (toleranceMs > 0 && Math.abs(now - Number(requestTime) * 1000) > toleranceMs) return { ok: false, status: 401, reason: 'RequestTime is too far from now (stale or replayed request)' };
    const expected = Buffer.from(callbackSign(token, requestTime));
    const given = Buffer.from(sign.toLowerCase());
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, status: 401, reason: 'wrong Sign' };
  }
  if (query.sdkAppId === undefined) return token === undefined ? { ok: false, status: 403, reason: 'SdkAppid is missing' } : { ok: true, probe: true };
  if (query.sdkAppId !== String(expect.sdkAppId)) return { ok: false, status: 403, reason: `SdkAppid ${query.sdkAppId.slice(0, 20)} is not this app's` };
  return { ok: true };
}
