import { describe, expect, it } from 'vitest';
import { isoTime } from '../src/inbound/iso-time.js';

describe('isoTime', () => {
  it('reads what the platforms send as Date.parse does', () => {
    const samples = [
      '2026-12-01T08:30:15.123000+00:00', // Discord
      '2026-12-01T08:30:15+08:00', // QQ
      '2026-12-01T08:30:15.1Z',
      '2026-12-01T08:30:15.12Z',
      '2026-12-01T08:30:15.999999Z',
      '2026-12-01T23:59:59.5-05:30',
      '2024-02-29T00:00:00Z',
      '2000-02-29T12:00:00Z',
      '1970-01-01T00:00:00.000Z',
    ];
    for (const text of samples) expect(isoTime(text), text).toBe(Date.parse(text));
    expect(isoTime('2026-12-01T08:30:15.123000+00:00')).toBe(Date.UTC(2026, 11, 1, 8, 30, 15, 123));
    expect(isoTime('2026-12-01T08:30:15+08:00')).toBe(Date.UTC(2026, 11, 1, 0, 30, 15));
  });

  it('agrees with Date.parse across random times and offsets', () => {
    let seed = 7;
    const next = (n: number) => ((seed = (Math.imul(seed, 48271) >>> 0) % 0x7fffffff) % n);
    const pad = (n: number, width = 2) => String(n).padStart(width, '0');
    for (let i = 0; i < 5000; i++) {
      const fraction = ['', `.${pad(next(1000), 3)}`, `.${pad(next(1_000_000), 6)}`, `.${next(10)}`][next(4)];
      const zone = next(3) === 0 ? 'Z' : `${next(2) ? '+' : '-'}${pad(next(15))}:${pad(next(4) * 15)}`;
      const text = `${1971 + next(100)}-${pad(1 + next(12))}-${pad(1 + next(31))}T${pad(next(24))}:${pad(next(60))}:${pad(next(60))}${fraction}${zone}`;
      expect(isoTime(text), text).toBe(Date.parse(text));
    }
  });

  it('leaves anything else to Date.parse: other forms, and dates no calendar has', () => {
    const others = ['', 'not a date', '2026-12-01', '2026-12-01T08:30Z', '2026-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2026-13-01T00:00:00Z', '2026-12-01T24:00:00Z', '0099-01-01T00:00:00Z', '2026-12-01T08:30:15.Z', '2026-12-01T08:30:15+0800', '2026-12-01T08:30:15 GMT', '2026-12-01 08:30:15Z', 'Tue, 01 Dec 2026 08:30:15 GMT', '2026-12-01T08:30:15.123+00:00trailing'];
    for (const text of others) expect(isoTime(text), text).toEqual(Date.parse(text));
  });
});
