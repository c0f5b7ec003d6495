// Counts hits under a key in a fixed window that the first hit opens: the per-user limits'
// counter (src/pipeline/limits.ts). A window is one number and one deadline, so the count is
// exact within it and a key costs the same however many hits it takes. This process's own
// counter is here; the one several instances share is in redis/window-counter.ts.

export interface WindowCount {
  /** Hits in the current window, this one included. */
  count: number;
  /** Ms until the window ends; the next hit after that opens a new one. */
  resetMs: number;
}

export interface WindowCounter {
  /** Counts one hit under `key`, opening a window of `windowMs` when none is running. */
  hit(key: string, windowMs: number): WindowCount | Promise<WindowCount>;
}

interface Window {
  count: number;
  endsAt: number;
}

/** Keys kept at most by default: far more users than write within one window to one process. */
const defaultMaxKeys = 100_000;

/**
 * One process's windows, bounded: an ended window is dropped when a later hit finds it at the
 * front of the map (oldest first), and past `maxKeys` every ended one goes, then the oldest
 * running ones (their users start a fresh count: under that pressure the limit gives way, not
 * memory).
 */
export class LocalWindowCounter implements WindowCounter {
  /** In the order the windows opened: a window opened again moves to the back. */
  private readonly windows = new Map<string, Window>();
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(options: { maxKeys?: number; now?: () => number } = {}) {
    this.maxKeys = options.maxKeys ?? defaultMaxKeys;
    this.now = options.now ?? Date.now;
  }

  /** Keys held now. */
  get size(): number {
    return this.windows.size;
  }

  hit(key: string, windowMs: number): WindowCount {
    const now = this.now();
    this.dropEndedFront(now);
    let window = this.windows.get(key);
    if (!window || window.endsAt <= now) {
      this.windows.delete(key);
      window = { count: 0, endsAt: now + windowMs };
      this.windows.set(key, window);
      if (this.windows.size > this.maxKeys) this.shrink(now);
    }
    window.count++;
    return { count: window.count, resetMs: window.endsAt - now };
  }

  /** Each ended window is dropped once, so this costs nothing per hit on average. */
  private dropEndedFront(now: number): void {
    for (const [key, window] of this.windows) {
      if (window.endsAt > now) return;
      this.windows.delete(key);
    }
  }

  /**
   * Windows of different lengths end out of order, so ended ones can hide behind a running one:
   * all are looked at. Down to 90% of the bound, so a full map is not scanned on every new key.
   */
  private shrink(now: number): void {
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
    // At least one: the window just opened is the last in the map, and stays.
    const keep = Math.max(1, Math.floor(this.maxKeys * 0.9));
    for (const key of this.windows.keys()) {
      if (this.windows.size <= keep) return;
      this.windows.delete(key);
    }
  }
}
