// The feed's messages in the page: bounded (the newest `max`), and changed at most once per
// animation frame however fast batches arrive, so 100 messages/s costs a few renders a second.

import type { EventSummary } from './api.js';

export class FeedStore {
  private readonly byId = new Map<string, EventSummary>();
  private readonly pending = new Map<string, EventSummary>();
  private sorted: EventSummary[] = [];
  private frame = 0;
  private paused = false;

  constructor(
    readonly max: number,
    private readonly changed: () => void,
    private readonly schedule: (apply: () => void) => number = (apply) => requestAnimationFrame(apply),
  ) {}

  get isPaused(): boolean {
    return this.paused;
  }

  /** Paused, the list on screen stays as it is; what arrives meanwhile waits (the newest `max`) and shows on resume. */
  setPaused(paused: boolean): void {
    this.paused = paused;
    if (!paused) this.request();
    this.changed();
  }

  get waiting(): number {
    return this.pending.size;
  }

  add(batch: readonly EventSummary[]): void {
    for (const event of batch) {
      this.pending.delete(event.id);
      this.pending.set(event.id, event);
    }
    evict(this.pending, this.max);
    this.request();
  }

  /** Newest first. */
  list(): readonly EventSummary[] {
    return this.sorted;
  }

  private request(): void {
    if (this.frame || this.pending.size === 0) return;
    this.frame = this.schedule(() => this.apply());
  }

  /** Paused, only the count of what waits changes on screen. */
  private apply(): void {
    this.frame = 0;
    if (!this.paused) {
      for (const [id, event] of this.pending) this.byId.set(id, event);
      this.pending.clear();
      evict(this.byId, this.max);
      this.sorted = [...this.byId.values()].sort((a, b) => b.seq - a.seq);
    }
    this.changed();
  }
}

/** Drops the entries with the lowest seq past `max`. */
function evict(map: Map<string, EventSummary>, max: number): void {
  if (map.size <= max) return;
  const oldest = [...map.values()].sort((a, b) => a.seq - b.seq).slice(0, map.size - max);
  for (const event of oldest) map.delete(event.id);
}
