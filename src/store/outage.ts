// A networked store (Redis) that lost its connection is usually back within moments. A write that
// records what already happened (a reply delivered, an event finished, replies about to go out)
// waits for it and is made again, rather than be lost: a lost one has a resumed event send its
// replies a second time. Only for writes that are safe to repeat.

import type { Store } from './index.js';

/** How long a write waits for a reconnecting store before it gives up. */
export const outageWaitMs = 10_000;
/** A write that failed while the store still looked up: how long its connection has to show it dropped. */
const settleMs = 200;
const pollMs = 50;

/** Runs a write again once the store is back; its error stands when the store was never down. */
export type ThroughOutage = <T>(write: () => Promise<T>) => Promise<T>;

/** Stores that cannot lose their connection (SQLite, memory) run the write once, as it is. */
export function throughOutage(store: Store, waitMs = outageWaitMs): ThroughOutage {
  if (!store.onAvailability) return (write) => write();
  return async (write) => {
    let deadline: number | undefined;
    for (;;) {
      try {
        return await write();
      } catch (error) {
        deadline ??= Date.now() + waitMs;
        if (!(await backAfterDrop(store, deadline))) throw error;
      }
    }
  };
}

/** True once a store that is down (or goes down within settleMs) is available again before `deadline`. */
async function backAfterDrop(store: Store, deadline: number): Promise<boolean> {
  if (store.available) {
    // The command fails as the connection drops, a moment before the store says so.
    const settle = Math.min(deadline, Date.now() + settleMs);
    while (store.available && Date.now() < settle) await pause();
    if (store.available) return false;
  }
  while (!store.available && Date.now() < deadline) await pause();
  return store.available;
}

const pause = () => new Promise((resolve) => setTimeout(resolve, pollMs));
