import type { Dispatcher } from 'undici';
import { discard, readBounded } from '../net/fetch-file.js';
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
  const { Agent, request } = undici();
  agent ??= new Agent({ keepAliveTimeout: 30_000, connections: 64, pipelining: 1 });
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = abort ? AbortSignal.any([timeout, abort]) : timeout;
  let response;
  try {
    response = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, dispatcher: agent, signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  } catch (error) {
    throw failure(error, timeout, timeoutMs, abort);
  }
  const declared = Number(response.headers['content-length']);
  if (declared > maxBytes) {
    discard(response.body);
    throw new CallbackError(`reply body of ${declared} bytes is over the ${maxBytes}-byte limit`, 'body');
  }
  let replyBody: Buffer;
  try {
    replyBody = await readBounded(response.body, maxBytes, () => new CallbackError(`reply body is over the ${maxBytes}-byte limit`, 'body'));
  } catch (error) {
    if (error instanceof CallbackError) throw error;
    throw failure(error, timeout, timeoutMs, abort);
  }
  const h = response.headers;
  return { status: response.statusCode, contentType: header(h['content-type']), disposition: header(h['content-disposition']), retryAfter: header(h['retry-after']), proxyStatus: header(h['proxy-status']), body: replyBody, headers: h };
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function failure(error: unknown, timeout: AbortSignal, timeoutMs: number, abort: AbortSignal | undefined): CallbackError {
  const code = (error as { code?: string }).code;
  if (abort?.aborted && !timeout.aborted) return new CallbackError(`request aborted: ${(abort.reason as Error | undefined)?.message ?? 'by the caller'}`, 'connection');
  if (timeout.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return new CallbackError(`no reply within ${timeoutMs} ms`, 'timeout');
  return new CallbackError(`request failed: ${code ?? (error as Error).message}`, 'connection');
}

/** Callback URLs may carry credentials in their userinfo or query; logs get origin and path only. */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}
