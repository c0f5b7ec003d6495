// QQ's webhook signatures: Ed25519 with a key derived from the AppSecret (sign.md in QQ's docs).

import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows it. */
const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface WebhookKeys {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** The seed is the secret repeated until it is at least 32 bytes long, cut to 32. */
export function deriveKeys(secret: string): WebhookKeys {
  if (secret === '') throw new Error('the AppSecret is empty');
  let seed = secret;
  while (Buffer.byteLength(seed) < 32) seed = seed.repeat(2);
  const privateKey = createPrivateKey({ key: Buffer.concat([pkcs8Prefix, Buffer.from(seed).subarray(0, 32)]), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** Hex Ed25519 signature of `message`. */
export function signHex(keys: WebhookKeys, message: string | Buffer): string {
  return sign(null, typeof message === 'string' ? Buffer.from(message) : message, keys.privateKey).toString('hex');
}

/** The op 13 answer: QQ checks that we hold the secret by our signature over event_ts + plain_token. */
export function validationAnswer(keys: WebhookKeys, plainToken: string, eventTs: string): { plain_token: string; signature: string } {
  return { plain_token: plainToken, signature: signHex(keys, eventTs + plainToken) };
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/**
 * Checks X-Signature-Ed25519 over X-Signature-Timestamp + the raw body, and that the timestamp
 * is within `toleranceMs` of now (0: no age check). Ed25519 verification takes the same time
 * whichever byte of a forged signature is wrong.
 */
export function checkSignature(
  keys: WebhookKeys,
  headers: { signature: string | undefined; timestamp: string | undefined },
  rawBody: Buffer,
  toleranceMs: number,
  now = Date.now(),
): SignatureCheck {
  const { signature, timestamp } = headers;
  if (!signature || !timestamp) return { ok: false, reason: 'missing X-Signature-Ed25519 or X-Signature-Timestamp' };
  if (!/^[0-9a-f]{128}$/i.test(signature)) return { ok: false, reason: 'X-Signature-Ed25519 is not a 64-byte hex signature' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'X-Signature-Timestamp is not a unix time' };
  if (toleranceMs > 0 && Math.abs(now - Number(timestamp) * 1000) > toleranceMs) return { ok: false, reason: 'X-Signature-Timestamp is too far from now (stale or replayed request)' };
  const signed = Buffer.concat([Buffer.from(timestamp), rawBody]);
  if (!verify(null, signed, keys.publicKey, Buffer.from(signature, 'hex'))) return { ok: false, reason: 'wrong signature' };
  return { ok: true };
}
