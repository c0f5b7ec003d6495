// What a failed Bot API call means for the core's retry policy, and how it reads in a log line.

import { NetworkError, ParseError, TelegramApiError, TimeoutError } from 'node-telegram-bot-api';
import { fatal, rateLimited, retryable, type Failure } from '../../src/delivery/retry.js';
import { errorMessage } from '../../src/inbound/supervisor.js';

/**
 * 429 waits retry_after; 5xx and a lost or garbled answer are tried again (Telegram takes no
 * idempotency key, so a send whose answer was lost may arrive twice: the documented window);
 * any other refusal is final, a bad token (401, 404) included: no refresh can fix it.
 */
export function classify(error: unknown): Failure {
  if (error instanceof TelegramApiError) {
    if (error.errorCode === 429) return rateLimited(error.retryAfter === undefined ? undefined : error.retryAfter * 1000);
    return error.errorCode >= 500 ? retryable : fatal;
  }
  if (error instanceof NetworkError || error instanceof TimeoutError || error instanceof ParseError) return retryable;
  if ((error as { name?: unknown }).name === 'AbortError') return retryable; // shutdown: the core keeps it for the next start
  return fatal;
}

export function describe(error: unknown): string {
  if (error instanceof TelegramApiError) return `Telegram ${error.errorCode}: ${error.description}`;
  return errorMessage(error);
}
