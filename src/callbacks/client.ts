import type { Dispatcher } from 'undici';
import { AnswerTooLarge, exchange, ExchangeTimeout, headersOf, targetOf } from '../net/exchange.js';
import { undici } from '../net/undici.js';

export class CallbackError extends Error {
  override readonly name = 'CallbackError';
  constructor(
    message: string,
    /** timeout | connection | status | body | invalid */
    readonly reason: 'timeout' | 'connection' | 'body' | 'invalid',
  ) {
    super(message);
  }
}

export interface CallbackResponse {
  status: number;
  contentType: string | undefined;
  disposition: string | undefined;
  /** The Retry-After header, as sent. */
  retryAfter: string | undefined;
  /** The Proxy-Status header (RFC 9209): set when a proxy, not the callback server, made the answer. */
  proxyStatus: string | undefined;
  body: Buffer;
  /** Every header as received (for the operator console). */
  headers: Record<string, string | string[] | undefined>;
}

/** One keep-alive pool for every callback (made by the first): a stage call reuses a warm connection instead of a new handshake. */
let agent: Dispatcher | undefined;

/**
 * POSTs a JSON body; the timeout bounds the whole exchange, the size limit the reply body.
 * `abort` (shutdown, a message's spent callback budget) ends it early, as a connection error.
 */
export async function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number, maxBytes: number, abort?: AbortSignal): Promise<CallbackResponse> {
  agent ??= new (undici().Agent)({ keepAliveTimeout: 30_000, connections: 64, pipelining: 1 });
  const { origin, path } = target(url);
  let answer;
  try {
    answer = await exchange(agent, { origin, path, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, timeoutMs, deadlineMs: timeoutMs, signal: abort, maxBytes });
  } catch (error) {
    throw failure(error, timeoutMs, maxBytes, abort);
  }
  const h = headersOf(answer);
  return { status: answer.status, contentType: header(h['content-type']), disposition: header(h['content-disposition']), retryAfter: header(h['retry-after']), proxyStatus: header(h['proxy-status']), body: answer.body, headers: h };
}

/** Where a callback URL is POSTed (targetOf), parsed once per URL. */
const targets = new Map<string, ReturnType<typeof targetOf>>();

function target(url: string): ReturnType<typeof targetOf> {
  let found = targets.get(url);
  if (!found) {
    found = targetOf(new URL(url));
    // The configured URLs are few; anything past that is not worth keeping.
    if (targets.size < 256) targets.set(url, found);
  }
  return found;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function failure(error: unknown, timeoutMs: number, maxBytes: number, abort: AbortSignal | undefined): CallbackError {
  if (error instanceof AnswerTooLarge) return new CallbackError(`reply body ${error.declared === undefined ? '' : `of ${error.declared} bytes `}is over the ${maxBytes}-byte limit`, 'body');
  const code = (error as { code?: string }).code;
  if (abort?.aborted && error === abort.reason) return new CallbackError(`request aborted: ${(abort.reason as Error | undefined)?.message ?? 'by the caller'}`, 'connection');
  if (error instanceof ExchangeTimeout || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return new CallbackError(`no reply within ${timeoutMs} ms`, 'timeout');
  return new CallbackError(`request failed: ${code ?? (error as Error).message}`, 'connection');
}

/** Callback URLs may carry credentials in their userinfo or query; logs get origin and path only. */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}
