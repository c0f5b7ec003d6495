// WeCom's callback crypto (WXBizMsgCrypt): a SHA-1 signature over the sorted token, timestamp,
// nonce and ciphertext, and AES-256-CBC over random(16) | uint32BE(length) | message | receiveid,
// padded PKCS#7-style to 32-byte blocks. Written from WeCom's description; checked against its
// published sample vector in the tests.

import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const block = 32;

export interface CallbackKeys {
  token: string;
  /** The 32-byte AES key; its first 16 bytes are the IV. */
  aesKey: Buffer;
}

export function callbackKeys(token: string, encodingAESKey: string): CallbackKeys {
  const aesKey = Buffer.from(`${encodingAESKey}=`, 'base64');
  if (aesKey.length !== 32) throw new Error('the EncodingAESKey does not decode to a 32-byte key');
  return { token, aesKey };
}

export function signature(token: string, timestamp: string, nonce: string, encrypted: string): string {
  return createHash('sha1').update([token, timestamp, nonce, encrypted].sort().join('')).digest('hex');
}

export function signatureMatches(keys: CallbackKeys, given: string, timestamp: string, nonce: string, encrypted: string): boolean {
  const expected = Buffer.from(signature(keys.token, timestamp, nonce, encrypted));
  const actual = Buffer.from(given.toLowerCase());
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export function encrypt(keys: CallbackKeys, message: string | Buffer, receiveId: string, random = randomBytes(16)): string {
  const body = typeof message === 'string' ? Buffer.from(message) : message;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  const plain = Buffer.concat([random, length, body, Buffer.from(receiveId)]);
  const pad = block - (plain.length % block);
  const cipher = createCipheriv('aes-256-cbc', keys.aesKey, keys.aesKey.subarray(0, 16)).setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.concat([plain, Buffer.alloc(pad, pad)])), cipher.final()]).toString('base64');
}

export class CiphertextError extends Error {
  override readonly name = 'CiphertextError';
}

/** The message and the receive id it was encrypted for; throws CiphertextError for anything malformed. */
export function decrypt(keys: CallbackKeys, encrypted: string): { message: Buffer; receiveId: string } {
  const data = Buffer.from(encrypted, 'base64');
  if (data.length === 0 || data.length % 16 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encrypted)) throw new CiphertextError('not base64 AES ciphertext');
  const decipher = createDecipheriv('aes-256-cbc', keys.aesKey, keys.aesKey.subarray(0, 16)).setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(data), decipher.final()]);
  // PKCS#7 in full: every pad byte must carry the count (WeCom pads exactly so), not just the last.
  const pad = plain[plain.length - 1]!;
  if (pad < 1 || pad > block || pad > plain.length || plain.subarray(plain.length - pad).some((byte) => byte !== pad)) throw new CiphertextError('bad padding');
  const end = plain.length - pad;
  if (end < 20) throw new CiphertextError('too short');
  const length = plain.readUInt32BE(16);
  if (20 + length > end) throw new CiphertextError('length field past the end');
  return { message: plain.subarray(20, 20 + length), receiveId: plain.subarray(20 + length, end).toString('utf8') };
}
