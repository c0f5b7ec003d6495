// The id of an event a platform replays (replayable.ts): the same for every delivery, so a replay
// runs under the id its first run had, as a resumed event does, and a handler's state keyed by
// ctx.eventId or a callback server recognises the repeat.
//
// A UUID (version 8, RFC 9562) made of a 128-bit MurmurHash3 (x86_128, seed 0) of the bot id and
// the platform's key, read as UTF-16 code units two to a 32-bit word: the hash of the text's
// UTF-16LE bytes. Not a cryptographic hash, and it need not be one: the input is the platform's
// own event key, which no sender chooses, and 128 bits keep an accidental collision out of reach.
// It is computed once per gateway event; node:crypto's one-shot sha256 cost about twice as much,
// nearly all of it the call into the binding (bench/gateway.ts).

const c1 = 0x239b961b;
const c2 = 0xab0e9789;
const c3 = 0x38b34ae5;
const c4 = 0xa1e38b93;

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));
const scramble = (k: number, c: number, r: number, d: number): number => Math.imul(rotl(Math.imul(k, c), r), d);
const fmix = (h: number): number => {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
};

/** The UUID's text is written here and read out once: one string made, not a dozen pieces joined. */
const text36 = Buffer.alloc(36, '-');
const hexDigits = Buffer.from('0123456789abcdef', 'latin1');
/** Where the 32 hex digits go among the 36 characters (after the dashes at 8, 13, 18 and 23). */
const digitAt = Uint8Array.from({ length: 32 }, (_, digit) => digit + (digit >= 8 ? 1 : 0) + (digit >= 12 ? 1 : 0) + (digit >= 16 ? 1 : 0) + (digit >= 20 ? 1 : 0));

function writeHex(word: number, firstDigit: number): void {
  for (let digit = firstDigit + 7; digit >= firstDigit; digit--) {
    text36[digitAt[digit]!] = hexDigits[word & 15]!;
    word >>>= 4;
  }
}

export function replayableEventId(botId: string, key: string): string {
  const text = `${botId}\n${key}`;
  const length = text.length;
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  let h4 = 0;
  let i = 0;
  // Blocks of 16 bytes: 8 code units.
  for (; i + 8 <= length; i += 8) {
    h1 ^= scramble(text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16), c1, 15, c2);
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    h2 ^= scramble(text.charCodeAt(i + 2) | (text.charCodeAt(i + 3) << 16), c2, 16, c3);
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    h3 ^= scramble(text.charCodeAt(i + 4) | (text.charCodeAt(i + 5) << 16), c3, 17, c4);
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    h4 ^= scramble(text.charCodeAt(i + 6) | (text.charCodeAt(i + 7) << 16), c4, 18, c1);
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  if (i < length) {
    let k1 = 0;
    let k2 = 0;
    let k3 = 0;
    let k4 = 0;
    for (let unit = 0; i + unit < length; unit++) {
      const word = text.charCodeAt(i + unit) << ((unit & 1) * 16);
      if (unit < 2) k1 |= word;
      else if (unit < 4) k2 |= word;
      else if (unit < 6) k3 |= word;
      else k4 |= word;
    }
    h4 ^= scramble(k4, c4, 18, c1);
    h3 ^= scramble(k3, c3, 17, c4);
    h2 ^= scramble(k2, c2, 16, c3);
    h1 ^= scramble(k1, c1, 15, c2);
  }
  const bytes = length * 2;
  h1 ^= bytes;
  h2 ^= bytes;
  h3 ^= bytes;
  h4 ^= bytes;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  // The version (8) in the 7th byte's high nibble, the variant (0b10) in the 9th byte's high bits.
  writeHex(h1, 0);
  writeHex((h2 & ~0xf000) | 0x8000, 8);
  writeHex((h3 & 0x3fffffff) | 0x80000000, 16);
  writeHex(h4, 24);
  return text36.toString('latin1', 0, 36);
}
