// What a runtime on a shared (Redis) store does through it, with the other instances: the work
// queues, pacing, the per-user counter. Imported only for such a store: a start on SQLite or
// memory never loads ioredis or bullmq.

export { ClusterWork } from './work-queue.js';
export { pacingFor } from './shared-pacer.js';
export { windowCounterFor } from '../store/redis/window-counter.js';
