// Signals within one process: what memory and SQLite stores offer (no other instance shares them),
// and how a shared store hands a signal from elsewhere to this process's watchers.

import type { Signals } from './index.js';

export class LocalSignals implements Signals {
  private readonly watchers = new Map<string, Set<() => void>>();

  async notify(topic: string): Promise<void> {
    this.wake(topic);
  }

  async watch(topic: string, listener: () => void): Promise<() => void> {
    return this.add(topic, listener);
  }

  /** Registers at once; returns the function that stops it. */
  add(topic: string, listener: () => void): () => void {
    let set = this.watchers.get(topic);
    if (!set) this.watchers.set(topic, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.watchers.get(topic) === set) this.watchers.delete(topic);
    };
  }

  /** Whether anyone here watches `topic`. */
  watched(topic: string): boolean {
    return this.watchers.has(topic);
  }

  wake(topic: string): void {
    const set = this.watchers.get(topic);
    if (set) for (const listener of [...set]) listener();
  }

  /** Every watcher, whatever its topic (after a gap in which signals may have been lost). */
  wakeAll(): void {
    for (const topic of [...this.watchers.keys()]) this.wake(topic);
  }

  topics(): string[] {
    return [...this.watchers.keys()];
  }
}
