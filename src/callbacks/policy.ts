// How outbound callbacks (onSent, the HTTP endpoint's callback mode) are tried again: the
// operator's `retries` and `retryDelay` as the core retry policy.

import { defaultRetryPolicy, fatal, retryable, type Failure, type RetryPolicy } from '../delivery/retry.js';
import { CallbackError } from './client.js';

/**
 * `retries` after the first try; the first wait is at most `retryDelay`, doubling up to the
 * longest wait the doubling reaches on the last retry (1s, 2s, 4s for 3 retries of 1s), with
 * full jitter under each.
 */
export function callbackPolicy(retries: number, retryDelayMs: number): RetryPolicy {
  return {
    attempts: 1 + retries,
    initialDelayMs: retryDelayMs,
    maxDelayMs: retryDelayMs * 2 ** Math.max(0, retries - 1),
    maxRetryAfterMs: defaultRetryPolicy.maxRetryAfterMs,
  };
}

/**
 * A request that threw: no reply in time or no connection is worth another try (the webhook-id
 * is the same on every try, so a receiver can drop a repeat); a reply that broke a limit is not.
 */
export function exchangeFailure(error: unknown): Failure {
  return error instanceof CallbackError && (error.reason === 'timeout' || error.reason === 'connection') ? retryable : fatal;
}
