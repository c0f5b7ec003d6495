// The QQ OpenAPI over undici: `Authorization: QQBot <token>` + X-Union-Appid on every call. Each
// call is made once; a failure is thrown as a QqApiError that says what kind it was (the core's
// retry policy, or `retry()` for calls that are not sends, decides what happens next).

import type { Dispatcher } from 'undici';
import { classifyNetworkError, classifyStatus, PlatformError, rateLimited, retryable, retryAfterMs, type Failure } from '../../src/delivery/retry.js';
import { undici } from '../../src/net/undici.js';
import type { AccessTokens } from './token.js';

const { request } = undici();

/** QQ's business codes that say "later" whatever the HTTP status (send.md, "常见错误码"). */
const laterCodes: Record<number, Failure | undefined> = {
  22009: rateLimited(), // msg limit exceed: sending too often
  304082: retryable, // upload media info fail: QQ could not fetch the media, "please retry"
  304083: retryable, // convert media info fail: likewise
};

export class QqApiError extends PlatformError {
  constructor(
    /** Undefined when no answer came (a network error). */
    readonly status: number | undefined,
    /** QQ's business code from the body (e.g. 304027 "the message replied to has expired"). */
    readonly code: number | undefined,
    message: string,
    readonly traceId: string | undefined,
    failure: Failure,
  ) {
    super(message, failure);
  }
}

export interface OpenApiOptions {
  apiRoot: string;
  appId: string;
  tokens: AccessTokens;
  dispatcher?: Dispatcher;
  /** QQ advises at least 5 s for sends, which can be slow to confirm. */
  timeoutMs?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  /**
   * Whether QQ would recognise the call made twice (a GET, an upload, a reply carrying msg_seq):
   * then a connection lost after sending may be tried again. By default only GETs are.
   */
  idempotent?: boolean;
}

export class OpenApi {
  constructor(private readonly options: OpenApiOptions) {}

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, { signal, idempotent = method === 'GET' }: CallOptions = {}): Promise<T> {
    const { apiRoot, appId, tokens, dispatcher, timeoutMs = 15_000 } = this.options;
    const token = await tokens.get();
    const what = `QQ ${method} ${path.split('?')[0]}`;
    let response: Dispatcher.ResponseData;
    let text: string;
    try {
      response = await request(`${apiRoot}${path}`, {
        method,
        headers: {
          authorization: `QQBot ${token}`,
          'x-union-appid': appId,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher,
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      text = await response.body.text();
    } catch (error) {
      throw new QqApiError(undefined, undefined, `${what} failed: ${(error as Error).message}`, undefined, classifyNetworkError(error, idempotent));
    }
    const json = parse(text);
    if (response.statusCode >= 200 && response.statusCode < 300) return json as T;
    // Expired or revoked early: forget it, so the next try fetches a new one.
    if (response.statusCode === 401) tokens.invalidate(token);
    throw apiError(what, response, json);
  }
}

function apiError(what: string, response: Dispatcher.ResponseData, json: unknown): QqApiError {
  const { statusCode: status, headers } = response;
  const body = (typeof json === 'object' && json !== null ? json : {}) as { code?: unknown; message?: unknown; err_code?: unknown };
  const code = typeof body.code === 'number' ? body.code : typeof body.err_code === 'number' ? body.err_code : undefined;
  const traceId = header(headers, 'x-tps-trace-id');
  const reason = typeof body.message === 'string' && body.message ? body.message : `HTTP ${status}`;
  const later = code === undefined ? undefined : laterCodes[code];
  const failure = later?.kind === 'rate-limited' ? rateLimited(retryAfterMs(headers['retry-after'])) : (later ?? classifyStatus(status, headers['retry-after']));
  return new QqApiError(status, code, `${what} failed: ${reason}${code === undefined ? '' : ` (code ${code})`} [HTTP ${status}${traceId ? `, trace ${traceId}` : ''}]`, traceId, failure);
}

function parse(text: string): unknown {
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 200) };
  }
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
