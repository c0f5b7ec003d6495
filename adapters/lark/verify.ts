// Lark's event security: AES-256-CBC encryption under sha256(encryptKey), the X-Lark-Signature
// over the raw body, and the verification token every event carries.

import { createDecipheriv, createHash, timingSafeEqual } from 'node:crypto';

/** The AES-256 key Lark derives from the Encrypt Key: its SHA-256 digest. */
export function aesKey(encryptKey: string): Buffer {
  return createHash('sha256').update(encryptKey).digest();
}

/** base64(iv + AES-256-CBC(plaintext)) -> plaintext; throws on anything that is not such a ciphertext under this key. */
export function decrypt(key: Buffer, encrypted: string): string {
  const bytes = Buffer.from(encrypted, 'base64');
  if (bytes.length < 32 || bytes.length % 16 !== 0) throw new Error('not an AES-256-CBC ciphertext (base64 of IV + whole blocks)');
  const decipher = createDecipheriv('aes-256-cbc', key, bytes.subarray(0, 16));
  return Buffer.concat([decipher.update(bytes.subarray(16)), decipher.final()]).toString('utf8');
}

export interface SignatureHeaders {
  timestamp: string | undefined;
  nonce: string | undefined;
  signature: string | undefined;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/**
 * X-Lark-Signature = hex sha256(timestamp + nonce + encryptKey + body), over the body bytes as
 * they arrived (the SDK hashes a re-serialized object, which breaks on any other spacing).
 * The signed timestamp (unix seconds) must be within `toleranceMs` of now (0: any age), or a
 * captured request could be replayed once its dedup key has expired.
 */
export function checkSignature(encryptKey: string, headers: SignatureHeaders, rawBody: Buffer, toleranceMs = 0, now = Date.now()): SignatureCheck {
  const { timestamp, nonce, signature } = headers;
  if (timestamp === undefined || nonce === undefined || signature === undefined) return { ok: false, reason: 'missing X-Lark-Signature, X-Lark-Request-Timestamp or X-Lark-Request-Nonce' };
  if (!/^[0-9a-f]{64}$/i.test(signature)) return { ok: false, reason: 'X-Lark-Signature is not a hex SHA-256 digest' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'X-Lark-Request-Timestamp is not a unix time' };
  if (toleranceMs > 0 && Math.abs(now - Number(timestamp) * 1000) > toleranceMs) return { ok: false, reason: 'X-Lark-Request-Timestamp is too far from now (stale or replayed request)' };
  const expected = createHash('sha256').update(timestamp).update(nonce).update(encryptKey).update(rawBody).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return { ok: false, reason: 'wrong signature' };
  return { ok: true };
}

/** Compares the token an event carries with ours in constant time. */
export function tokenMatches(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
