// A platform's ISO 8601 timestamp ("2026-12-01T08:30:15.123000+00:00", as Discord and QQ send one
// with every message) read by hand: Date.parse takes about 150 ns for it, this a fraction of that,
// once per message of a firehose. Anything else, or a date no calendar has, is left to Date.parse,
// so the answer is always Date.parse's.

const daysIn = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The number `count` decimal digits at `at` spell; -1 if any is not a digit. */
function digits(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** Milliseconds since the epoch, as Date.parse gives them (NaN for no date). */
export function isoTime(text: string): number {
  // YYYY-MM-DDTHH:MM:SS, then a fraction, then Z or an offset.
  if (text.length < 20 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 84 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return Date.parse(text);
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  // Years below 100 are left to Date.parse as Date.UTC would be; a day past the month's end is NaN there, not the next month.
  if (year < 100 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return Date.parse(text);
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > daysIn[month - 1]! + (leap ? 1 : 0)) return Date.parse(text);
  let at = 19;
  let ms = 0;
  if (text.charCodeAt(at) === 46) {
    // Milliseconds: the first three digits of the fraction; the rest are cut off, as Date.parse does.
    const start = ++at;
    for (let digit = text.charCodeAt(at) - 48; digit >= 0 && digit <= 9; digit = text.charCodeAt(++at) - 48) if (at - start < 3) ms = ms * 10 + digit;
    const read = at - start;
    if (read === 0) return Date.parse(text);
    if (read === 1) ms *= 100;
    else if (read === 2) ms *= 10;
  }
  let offset = 0;
  const zone = text.charCodeAt(at);
  if (zone === 90 && at + 1 === text.length) offset = 0;
  else if ((zone === 43 || zone === 45) && at + 6 === text.length && text.charCodeAt(at + 3) === 58) {
    const hours = digits(text, at + 1, 2);
    const minutes = digits(text, at + 4, 2);
    if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59) return Date.parse(text);
    offset = (zone === 43 ? 1 : -1) * (hours * 60 + minutes) * 60_000;
  } else return Date.parse(text);
  return ((daysSinceEpoch(year, month, day) * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms - offset;
}

/** Days from 1970-01-01 to a date of the proleptic Gregorian calendar (year ≥ 0): Howard Hinnant's days_from_civil. */
function daysSinceEpoch(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}
