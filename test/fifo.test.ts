// The queue of dispatches waiting for a pipeline slot: first in, first out, at any length.

import { describe, expect, it } from 'vitest';
import { Fifo } from '../src/pipeline/fifo.js';

describe('Fifo', () => {
  it('gives items back in the order they came, across the compactions of a queue that never empties', () => {
    const queue = new Fifo<number>();
    const taken: number[] = [];
    let next = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 3000; i++) queue.push(next++);
      for (let i = 0; i < 2500; i++) taken.push(queue.shift()!);
    }
    expect(queue.length).toBe(next - taken.length);
    taken.push(...queue.drain());
    expect(taken).toEqual(Array.from({ length: next }, (_, i) => i));
    expect(queue.length).toBe(0);
    expect(queue.shift()).toBeUndefined();
  });

  it('drains what is left, and is empty after', () => {
    const queue = new Fifo<string>();
    queue.push('a');
    queue.push('b');
    queue.push('c');
    expect(queue.shift()).toBe('a');
    expect(queue.drain()).toEqual(['b', 'c']);
    expect(queue.drain()).toEqual([]);
    queue.push('d');
    expect(queue.length).toBe(1);
    expect(queue.shift()).toBe('d');
  });
});
