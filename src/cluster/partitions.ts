// Which work queue an event waits in. A chat always lands on the same partition, and each
// partition runs one job at a time across every worker: that is what keeps a chat's messages in
// order. The price is head-of-line blocking: a slow message (a slow handler or callback, or a reply
// waiting out its chat's send pacing) holds up the other chats that hash to its partition (more
// partitions, less of it; `cluster.partitions`). Change the count only with the queues empty: a job
// left in a queue past the new count has no worker.

/** Queue names: `p0` … `p<n-1>`, under the store's prefix. */
export function partitionName(index: number): string {
  return `p${index}`;
}

/** FNV-1a: fast, stable across processes and versions (unlike anything seeded per process). */
export function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}
