// Idempotency keys for platforms that take one, derived from a reply item's stable key and the
// part's place in it: the same part gets the same key on every try, in every process.

import { createHash } from 'node:crypto';

function digest(itemKey: string, part: number): Buffer {
  return createHash('sha256').update(`${itemKey}\0${part}`).digest();
}

/** A URL-safe string of at most `length` characters (Discord's nonce takes 25, Lark's uuid 50). */
export function idempotencyKey(itemKey: string, part: number, length = 25): string {
  return digest(itemKey, part).toString('base64url').slice(0, length);
}

/** A positive int32 (VK's random_id, QQ's msg_seq range is the caller's to narrow). */
export function idempotencyInt32(itemKey: string, part: number): number {
  return digest(itemKey, part).readUInt32BE(0) & 0x7fffffff || 1;
}
