import { describe, expect, it } from 'vitest';
import { Eviction } from '../src/runtime/eviction.js';

describe('Eviction', () => {
  it('hands out the oldest entry as the map itself orders them, through sets, re-sets, deletes and clears', () => {
    const expected = new Map<string, number>();
    const map = new Map<string, number>();
    const eviction = new Eviction(map);
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < 50_000; i++) {
      const key = `k${Math.floor(random() * 120)}`;
      const roll = random();
      for (const m of [expected, map]) {
        if (roll < 0.5) m.delete(key); // deleted and set again: the newest
        if (roll >= 0.5 && roll < 0.6) m.delete(key);
        else if (roll >= 0.6 && roll < 0.62) m.clear();
        else m.set(key, i);
      }
      while (expected.size > 50) {
        const oldest = expected.entries().next().value!;
        expected.delete(oldest[0]);
        const given = eviction.oldest();
        expect(given).toEqual(oldest);
        map.delete(given![0]);
      }
    }
    expect([...map.keys()]).toEqual([...expected.keys()]);
  });

  it('has nothing to give from an empty map, and starts again once entries come back', () => {
    const map = new Map<string, number>();
    const eviction = new Eviction(map);
    expect(eviction.oldest()).toBeUndefined();
    map.set('a', 1);
    expect(eviction.oldest()).toEqual(['a', 1]);
    map.delete('a');
    expect(eviction.oldest()).toBeUndefined();
    map.set('b', 2);
    expect(eviction.oldest()).toEqual(['b', 2]);
  });
});
