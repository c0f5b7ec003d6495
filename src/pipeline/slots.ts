// Backpressure: at most `max` messages admitted or being handled at once. A dispatch past it waits
// for a slot (and so does the platform's delivery) instead of growing memory without bound.

import { Fifo } from './fifo.js';

export class Slots {
  private taken = 0;
  private readonly waiters = new Fifo<() => void>();
  private closed = false;

  constructor(private readonly max: number) {}

  get full(): boolean {
    return this.taken >= this.max;
  }

  take(): void {
    this.taken++;
  }

  release(): void {
    this.taken--;
    this.waiters.shift()?.();
  }

  /** Waits until a slot is free; false when closed meanwhile. */
  async freed(): Promise<boolean> {
    while (this.full) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      if (this.closed) return false;
    }
    return true;
  }

  /** Those waiting are told no slot is coming (their platforms deliver again later). */
  close(): void {
    this.closed = true;
    for (const wake of this.waiters.drain()) wake();
  }
}
