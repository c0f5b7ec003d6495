import { timingSafeEqual } from 'node:crypto';

/** Compares the X-Telegram-Bot-Api-Secret-Token header with ours in constant time. */
export function verifySecretToken(header: string | undefined, expected: string): boolean {
  if (header === undefined) return false;
  const given = Buffer.from(header);
  const wanted = Buffer.from(expected);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}
