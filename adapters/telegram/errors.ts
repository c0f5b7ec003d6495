// What a failed Bot API call means for the core's retry policy, and how it reads in a log line.

import { NetworkError, ParseError, TelegramApiError, TimeoutError } from 'node-telegram-bot-api';
import { classifyNetworkError, fatal, rateLimited, retryable, type Failure } from '../../src/delivery/retry.js';
import { errorMessage } from '../../src/inbound/supervisor.js';

/**
 * 429 waits retry_after; a 5xx is tried again (Telegram did not take the message); a connection
 * refused before anything was sent is tried again. Telegram takes no idempotency key, so a send
 * whose answer was lost after the request left (a timeout, a reset, a garbled answer) is not: it
 * may have arrived, and a second try could show it twice; it is kept as a dead letter instead.
 * Any other refusal is final, a bad token (401, 404) included: no refresh can fix it.
 */
export function classify(error: unknown): Failure {
  if (error instanceof TelegramApiError) {
    if (error.errorCode === 429) return rateLimited(error.retryAfter === undefined ? undefined : error.retryAfter * 1000);
    return error.errorCode >= 500 ? retryable : fatal;
  }
  if ((error as { name?: unknown }).name === 'AbortError') return retryable; // shutdown: the core keeps it for the next start
  if (error instanceof NetworkError) return classifyNetworkError(error.cause ?? error, false);
  if (error instanceof TimeoutError || error instanceof ParseError) return fatal;
  return fatal;
}

export function describe(error: unknown): string {
  if (error instanceof TelegramApiError) return `Telegram ${error.errorCode}: ${error.description}`;
  return errorMessage(error);
}
