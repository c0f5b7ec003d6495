// State that must survive a restart or be shared between instances (DESIGN.md, "State").
// Memory is the default; durable stores implement the same interface.

export interface Store {
  /**
   * Take `key` for `ttlMs`. Resolves true the first time, false while it is still held,
   * which is how the pipeline drops a platform's redelivery of an event it already took.
   */
  claim(key: string, ttlMs: number): Promise<boolean>;
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown, ttlMs?: number): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

export { MemoryStore } from './memory.js';
