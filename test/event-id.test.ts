import { describe, expect, it } from 'vitest';
import { replayableEventId } from '../src/pipeline/event-id.js';

describe('replayableEventId', () => {
  it('is MurmurHash3 x86_128 of the bot id and key (UTF-16LE), as a version 8 UUID', () => {
    // Vectors from an independent byte-wise implementation of MurmurHash3_x86_128 (seed 0) over
    // `${bot}\n${key}` encoded as UTF-16LE, version and variant bits then set: the empty text, a
    // short key, one past a 16-byte block, and code units beyond ASCII (a surrogate pair among them).
    expect(replayableEventId('', '')).toBe('39efec7d-453a-89a0-853a-79a0453a79a0');
    expect(replayableEventId('discord', 'gw:123')).toBe('95f6c350-7bd5-88b5-820b-04e432c46288');
    expect(replayableEventId('discord', '1234567890123456789')).toBe('cfe26d3e-d22d-8032-bb78-1bc5b5ec9bae');
    expect(replayableEventId('qq', 'C2C_MESSAGE_CREATE:ROBOT1.0_abcdefgh')).toBe('7da8a908-d553-85fe-b84e-de5343a91929');
    expect(replayableEventId('lark', 'ünïcødé 中文 🎉')).toBe('277c6442-958d-88a3-a34b-425bf694c58b');
  });

  it('is the same for every delivery and differs between bots and keys', () => {
    const ids = new Set<string>();
    for (let n = 0; n < 100_000; n++) ids.add(replayableEventId('discord', String(1_100_000_000_000_000_000n + BigInt(n))));
    ids.add(replayableEventId('discord-2', '1100000000000000000'));
    expect(ids.size).toBe(100_001);
    for (const id of [...ids].slice(0, 1000)) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(replayableEventId('discord', '1100000000000000000')).toBe(replayableEventId('discord', '1100000000000000000'));
  });
});
