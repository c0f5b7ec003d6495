// The QQ OpenAPI over undici: `Authorization: QQBot <token>` + X-Union-Appid on every call,
// one retry with a fresh token after a 401, and waits (not failures) for rate limits.

import { request, type Dispatcher } from 'undici';
import type { AccessTokens } from './token.js';

export class QqApiError extends Error {
  override readonly name = 'QqApiError';
  constructor(
    readonly status: number,
    /** QQ's business code from the body (e.g. 304027 "the message replied to has expired"). */
    readonly code: number | undefined,
    message: string,
    readonly traceId: string | undefined,
  ) {
    super(message);
  }
}

export interface OpenApiOptions {
  apiRoot: string;
  appId: string;
  tokens: AccessTokens;
  dispatcher?: Dispatcher;
  /** QQ advises at least 5 s for sends, which can be slow to confirm. */
  timeoutMs?: number;
  /** Attempts for a rate-limited (429) or briefly unavailable (502/503) call. */
  maxAttempts?: number;
}

export class OpenApi {
  constructor(private readonly options: OpenApiOptions) {}

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const { apiRoot, appId, tokens, dispatcher, timeoutMs = 15_000, maxAttempts = 4 } = this.options;
    let refreshedToken = false;
    for (let attempt = 1; ; attempt++) {
      const token = await tokens.get();
      const response = await request(`${apiRoot}${path}`, {
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
      const text = await response.body.text();
      const json = parse(text);
      if (response.statusCode >= 200 && response.statusCode < 300) return json as T;
      if (response.statusCode === 401 && !refreshedToken) {
        // Expired or revoked early: one more try with a new token.
        tokens.invalidate(token);
        refreshedToken = true;
        attempt--;
        continue;
      }
      const traceId = header(response.headers, 'x-tps-trace-id');
      const error = apiError(method, path, response.statusCode, json, traceId);
      if (!retryable(response.statusCode) || attempt >= maxAttempts) throw error;
      await delay(retryAfterMs(response.headers) ?? Math.min(1000 * 2 ** (attempt - 1), 8000), signal);
    }
  }
}

function retryable(status: number): boolean {
  return status === 429 || status === 502 || status === 503;
}

function apiError(method: string, path: string, status: number, json: unknown, traceId: string | undefined): QqApiError {
  const body = (typeof json === 'object' && json !== null ? json : {}) as { code?: unknown; message?: unknown; err_code?: unknown };
  const code = typeof body.code === 'number' ? body.code : typeof body.err_code === 'number' ? body.err_code : undefined;
  const what = typeof body.message === 'string' && body.message ? body.message : `HTTP ${status}`;
  return new QqApiError(status, code, `QQ ${method} ${path.split('?')[0]} failed: ${what}${code === undefined ? '' : ` (code ${code})`} [HTTP ${status}${traceId ? `, trace ${traceId}` : ''}]`, traceId);
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

function retryAfterMs(headers: Record<string, string | string[] | undefined>): number | undefined {
  const seconds = Number(header(headers, 'retry-after'));
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds * 1000, 60_000) : undefined;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
