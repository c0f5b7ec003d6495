// The id of an event a platform replays (replayable.ts): the same for every delivery, so a replay
// runs under the id its first run had, as a resumed event does, and a handler's state keyed by
// ctx.eventId or a callback server recognises the repeat.
//
// A UUID (version 8, RFC 9562) made of a 128-bit MurmurHash3 (x86_128, seed 0) of the bot id and
// the platform's key, read as UTF-16 code units two to a 32-bit word: the hash of the text's
// UTF-16LE bytes. Not a cryptographic hash, and it need not be one: the input is the platform's
// own event key, which no sender chooses, and 128 bits keep an accidental collision out of reach.
// It is computed once per gateway event; node:crypto's one-shot sha256 cost about twice as much,
// nearly all of it the call into the binding (bench/gateway.ts). The text is hashed from a scratch
// array of code units, not from `${botId}\n${key}`: reading a joined string makes V8 flatten it
// first, a copy per event (a third of this function's time).

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

/** The text hashed, as UTF-16 code units: copied here rather than joined into a string V8 would flatten. Grows as needed. */
let units = new Uint16Array(256);

/** The UUID's text is written here and read out once: one string made, not a dozen pieces joined. */
const text36 = Buffer.alloc(36, '-');
/** Each byte's two hex digits, the first in the low byte (put() writes them in that order). */
const hexPairs = Uint16Array.from({ length: 256 }, (_, byte) => {
  const digits = byte.toString(16).padStart(2, '0');
  return digits.charCodeAt(0) | (digits.charCodeAt(1) << 8);
});

/** Two hex digits at `at`. */
function put(pair: number, at: number): void {
  text36[at] = pair & 255;
  text36[at + 1] = pair >>> 8;
}
/** A 32-bit word as 8 hex digits at `at`. */
function write8(word: number, at: number): void {
  put(hexPairs[word >>> 24]!, at);
  put(hexPairs[(word >>> 16) & 255]!, at + 2);
  put(hexPairs[(word >>> 8) & 255]!, at + 4);
  put(hexPairs[word & 255]!, at + 6);
}
/** A 16-bit half as 4 hex digits at `at`. */
function write4(half: number, at: number): void {
  put(hexPairs[half >>> 8]!, at);
  put(hexPairs[half & 255]!, at + 2);
}

/** Two code units as one 32-bit word, the first in the low half (UTF-16LE, whatever the machine's byte order). */
const word = (at: number): number => units[at]! | (units[at + 1]! << 16);

export function replayableEventId(botId: string, key: string): string {
  const length = botId.length + 1 + key.length;
  if (length + 8 > units.length) {
    units = new Uint16Array(2 * (length + 8));
  }
  for (let i = 0; i < botId.length; i++) units[i] = botId.charCodeAt(i);
  units[botId.length] = 10;
  for (let i = 0, at = botId.length + 1; i < key.length; i++) units[at + i] = key.charCodeAt(i);
  // The tail block reads zeros past the text.
  for (let i = length; i < length + 8; i++) units[i] = 0;
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  let h4 = 0;
  let u = 0;
  const blocks = length >>> 3;
  // Blocks of 16 bytes: 8 code units, 4 words.
  for (let block = 0; block < blocks; block++, u += 8) {
    h1 ^= scramble(word(u), c1, 15, c2);
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    h2 ^= scramble(word(u + 2), c2, 16, c3);
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    h3 ^= scramble(word(u + 4), c3, 17, c4);
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    h4 ^= scramble(word(u + 6), c4, 18, c1);
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  const tail = length & 7;
  if (tail > 0) {
    if (tail > 6) h4 ^= scramble(word(u + 6), c4, 18, c1);
    if (tail > 4) h3 ^= scramble(word(u + 4), c3, 17, c4);
    if (tail > 2) h2 ^= scramble(word(u + 2), c2, 16, c3);
    h1 ^= scramble(word(u), c1, 15, c2);
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
  h2 = (h2 & ~0xf000) | 0x8000;
  h3 = (h3 & 0x3fffffff) | 0x80000000;
  write8(h1, 0);
  write4(h2 >>> 16, 9);
  write4(h2 & 0xffff, 14);
  write4(h3 >>> 16, 19);
  write4(h3 & 0xffff, 24);
  write8(h4, 28);
  return text36.toString('latin1', 0, 36);
}
