// The VK API over undici: a form-encoded POST to {apiRoot}/{method} answered with
// {response} or {error:{error_code,error_msg}}. One call, one request: a failure is thrown
// classified (VkApiError's failure) for the core's retry policy to act on. The token travels in
// the body, never in a URL, so it cannot reach a log line or an error message.

import type { Dispatcher } from 'undici';
import { readBounded } from '../../src/net/fetch-file.js';
import { classifyStatus, fatal, PlatformError, rateLimited, retryable, type Failure } from '../../src/delivery/retry.js';
import { undici } from '../../src/net/undici.js';

const { FormData, request } = undici();

/** The one place the API version is pinned; callback settings are registered with it too. */
export const apiVersion = '5.199';

/**
 * VK's error codes by what to do about them: 6 (too many requests per second, for the whole token:
 * VK's window is a second) and 9 (flood control, to one conversation) slow down; 10 (internal
 * server error) tries again; 5 (the token is refused) cannot be fixed by trying again, as a
 * community token is not refreshed.
 */
function failureOf(code: number | undefined): Failure {
  if (code === 6) return rateLimited(1000, 'bot');
  if (code === 9) return rateLimited();
  if (code === 10) return retryable;
  return fatal;
}

export class VkApiError extends PlatformError {
  override name = 'VkApiError';
  constructor(
    readonly code: number | undefined,
    message: string,
    failure: Failure,
  ) {
    super(message, failure);
  }
}

export interface VkApiOptions {
  apiRoot: string;
  dispatcher?: Dispatcher;
  timeoutMs?: number;
  /** Aborted when the adapter stops: calls under way are abandoned. */
  signal?: AbortSignal;
}

export type Params = Record<string, string | number | undefined>;

export class VkApi {
  constructor(private readonly options: VkApiOptions) {}

  /**
   * Calls a method with a community token, once. A dropped connection or a 5xx is retryable:
   * every call the adapter makes is safe to repeat (messages.send by its random_id, which makes
   * VK answer a repeat with the first message's id instead of sending it again).
   */
  async call<T>(method: string, token: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
    const body = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== undefined) body.set(key, String(value));
    body.set('access_token', token);
    body.set('v', apiVersion);
    const { apiRoot, dispatcher, timeoutMs = 15_000 } = this.options;
    const failed = (what: string, failure: Failure, code?: number, hint = '') => new VkApiError(code, `VK ${method} failed: ${what}${code === undefined ? '' : ` (error ${code})`}${hint}`, failure);
    let status: number;
    let retryAfter: string | string[] | undefined;
    let text: string;
    try {
      const response = await request(`${apiRoot}/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: body.toString(),
        dispatcher,
        signal: this.signal(signal),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      status = response.statusCode;
      retryAfter = response.headers['retry-after'];
      text = await readAnswer(response.body);
    } catch (error) {
      throw failed((error as Error).message, retryable);
    }
    if (status >= 500 || status === 429) throw failed(`HTTP ${status}`, classifyStatus(status, retryAfter));
    const json = parse(text);
    if (json && 'response' in json) return json.response as T;
    const error = typeof json?.error === 'object' ? json.error : undefined;
    const code = typeof error?.error_code === 'number' ? error.error_code : undefined;
    const what = typeof error?.error_msg === 'string' ? error.error_msg : `HTTP ${status}, not a VK answer`;
    throw failed(what, failureOf(code), code, code === 5 ? '; check the community token in the config (revoked, or issued for another community)' : '');
  }

  /** POSTs a file to an upload server VK handed out (multipart, one file field) and returns its JSON answer for the matching save method. */
  async upload(url: string, field: 'photo' | 'file', file: { data: Uint8Array; mime: string; name: string }, signal?: AbortSignal): Promise<Answer> {
    const { dispatcher, timeoutMs = 60_000 } = this.options;
    const form = new FormData();
    form.set(field, new Blob([file.data as Uint8Array<ArrayBuffer>], { type: file.mime }), file.name);
    const failed = (reason: string, failure: Failure) => new VkApiError(undefined, `VK upload of ${file.name} failed: ${reason}`, failure);
    let status: number;
    let text: string;
    try {
      const response = await request(url, { method: 'POST', body: form, dispatcher, signal: this.signal(signal), headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      status = response.statusCode;
      text = await readAnswer(response.body);
    } catch (error) {
      throw failed((error as Error).message, retryable);
    }
    if (status >= 500) throw failed(`HTTP ${status}`, retryable);
    const json = parse(text);
    // The upload server reports a refused file in the body ({"error": "..."}), often with 200.
    if (status !== 200 || !json || typeof json.error === 'string') throw failed(typeof json?.error === 'string' ? json.error : `HTTP ${status}${json ? '' : ', not JSON'}`, fatal);
    return json;
  }

  /** The adapter's stop, and the caller's own signal (a send's, aborted at shutdown). */
  private signal(own: AbortSignal | undefined): AbortSignal | undefined {
    const { signal } = this.options;
    return own && signal ? AbortSignal.any([own, signal]) : (own ?? signal);
  }
}

/** What VK answers: the API's {response} or {error}, or an upload server's own fields. */
interface Answer {
  response?: unknown;
  error?: { error_code?: unknown; error_msg?: unknown } | string;
  [field: string]: unknown;
}

/** VK's answers are small; one past this is not VK's, and is not read into memory whole. */
const answerLimit = 1024 * 1024;

async function readAnswer(body: Parameters<typeof readBounded>[0]): Promise<string> {
  return (await readBounded(body, answerLimit, () => new Error(`answer larger than ${answerLimit} bytes`))).toString('utf8');
}

function parse(text: string): Answer | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Answer) : undefined;
  } catch {
    return undefined;
  }
}
