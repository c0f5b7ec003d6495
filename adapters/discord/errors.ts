// What a failed REST call means for the core's retry policy, and how it reads in a log line.

import { DiscordAPIError, HTTPError, RateLimitError } from './sdk.js';
import { fatal, rateLimited, retryable, type Failure } from '../../src/delivery/retry.js';
import { errorMessage } from '../../src/inbound/supervisor.js';

/**
 * A 429 waits what Discord said; a 5xx, a timeout or a dropped connection is tried again (the
 * message's nonce, enforced, makes a repeat return the message already made instead of a second
 * one); any other refusal is final, a refused token (401) included: no refresh can fix it.
 */
export function classify(error: unknown): Failure {
  // A global limit holds every channel of the bot; a route's only its channel.
  if (error instanceof RateLimitError) return rateLimited(error.retryAfter > 0 ? error.retryAfter : error.timeToReset, error.global ? 'bot' : 'chat');
  if (error instanceof DiscordAPIError || error instanceof HTTPError) {
    if (error.status === 429) return rateLimited();
    return error.status >= 500 ? retryable : fatal;
  }
  if (isNetworkError(error)) return retryable;
  return fatal;
}

export function describe(error: unknown): string {
  if (error instanceof DiscordAPIError) return `Discord ${error.status} (code ${error.code}): ${error.message}`;
  if (error instanceof HTTPError) return `Discord ${error.status}: ${error.message}`;
  if (error instanceof RateLimitError) return `Discord 429: rate limited on ${error.route} for ${error.retryAfter} ms`;
  return errorMessage(error);
}

/** A request that got no answer: aborted (timeout, shutdown) or a socket error (undici's and Node's errors carry a code). */
function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'AbortError') return true;
  const code = (error as { code?: unknown }).code ?? (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string';
}
