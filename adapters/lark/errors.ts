// What a failed call to the open API means: an error that says what failed (without credentials)
// and what kind of failure it is, so the core knows whether trying again can help.

import { auth, fatal, PlatformError, rateLimited, retryable, retryAfterMs, type Failure } from '../../src/delivery/retry.js';

export class LarkApiError extends PlatformError {
  override name = 'LarkApiError';
  constructor(
    message: string,
    readonly status: number | undefined,
    /** Lark's business code (e.g. 230002 "the bot is not in the chat"). */
    readonly code: number | undefined,
    failure: Failure,
  ) {
    super(message, failure);
  }
}

/** Lark's codes for a tenant access token it no longer accepts (expired early, or the app secret was reset). */
const staleTokenCodes = new Set([99991661, 99991663, 99991668]);

/**
 * "Too many requests": 99991400 is the open platform's frequency control of an API for the whole
 * app (HTTP 429, or 400 on older APIs; open.feishu.cn/document/server-docs/api-call-guide/frequency-control);
 * 230020 is the message API's own limit per user or chat (5 QPS).
 */
const appRateLimitCode = 99991400;
const chatRateLimitCode = 230020;

/**
 * The kind of failure a Lark answer is. Requests that got no answer (timeouts, resets) are
 * retryable: a send carries its uuid, so Lark drops a repeat of one that did go through.
 */
export function failureOf(status: number | undefined, code: number | undefined, headers: Record<string, unknown> = {}): Failure {
  if (code !== undefined && staleTokenCodes.has(code)) return auth;
  if (status === 429 || code === appRateLimitCode || code === chatRateLimitCode) {
    // Lark says how long in x-ogw-ratelimit-reset (seconds); Retry-After where a gateway sets one.
    const afterMs = retryAfterMs(header(headers, 'x-ogw-ratelimit-reset')) ?? retryAfterMs(header(headers, 'retry-after'));
    return rateLimited(afterMs, code === chatRateLimitCode ? 'chat' : 'bot');
  }
  if (status === undefined || status === 408 || status >= 500) return retryable;
  return fatal;
}

/** A 200 answer whose `code` is not 0. */
export function answerError(what: string, answer: unknown): LarkApiError | undefined {
  const code = (answer as { code?: unknown } | null)?.code;
  if (typeof code !== 'number' || code === 0) return undefined;
  const msg = (answer as { msg?: unknown }).msg;
  return new LarkApiError(`Lark ${what} failed: ${typeof msg === 'string' ? msg : 'error'} (code ${code})`, 200, code, failureOf(200, code));
}

/** An SDK (axios) error: the HTTP answer with Lark's code and msg, or why there was none. */
export function toApiError(what: string, error: unknown): LarkApiError {
  if (error instanceof LarkApiError) return error;
  const response = (error as { response?: { status?: number; data?: unknown; headers?: Record<string, unknown> } }).response;
  if (!response) {
    // No answer (timeout, reset, refused) is worth another try; an error of our own making is not.
    const network = (error as { isAxiosError?: unknown }).isAxiosError === true;
    return new LarkApiError(`Lark ${what} failed: ${errorText(error)}`, undefined, undefined, network ? retryable : fatal);
  }
  const body = (typeof response.data === 'object' && response.data !== null ? response.data : {}) as { code?: unknown; msg?: unknown };
  const code = typeof body.code === 'number' ? body.code : undefined;
  const msg = typeof body.msg === 'string' && body.msg ? body.msg : `HTTP ${response.status}`;
  return new LarkApiError(`Lark ${what} failed: ${msg}${code === undefined ? '' : ` (code ${code})`} [HTTP ${response.status}]`, response.status, code, failureOf(response.status, code, response.headers));
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function header(headers: Record<string, unknown>, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}
