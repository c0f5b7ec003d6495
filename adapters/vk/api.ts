// The VK API over undici: a form-encoded POST to {apiRoot}/{method} answered with
// {response} or {error:{error_code,error_msg}}. The token travels in the body, never in a URL,
// so it cannot reach a log line or an error message.

import { setTimeout as sleep } from 'node:timers/promises';
import { FormData, request, type Dispatcher } from 'undici';
import { readBounded } from '../../src/net/fetch-file.js';

/** The one place the API version is pinned; callback settings are registered with it too. */
export const apiVersion = '5.199';

/** 6: too many requests per second; 9: flood control; 10: internal server error. Worth waiting for. */
const retryableCodes = new Set([6, 9, 10]);

export class VkApiError extends Error {
  override readonly name = 'VkApiError';
  constructor(
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface VkApiOptions {
  apiRoot: string;
  dispatcher?: Dispatcher;
  timeoutMs?: number;
  /** Attempts for a throttled or failed call. */
  maxAttempts?: number;
  /** The first wait after a throttled call; doubled each time. */
  retryBaseMs?: number;
  /** Aborted when the adapter stops: calls under way and their retries are abandoned. */
  signal?: AbortSignal;
}

export type Params = Record<string, string | number | undefined>;

export class VkApi {
  constructor(private readonly options: VkApiOptions) {}

  /** The adapter stopped: nothing more is worth trying. */
  get stopped(): boolean {
    return this.options.signal?.aborted ?? false;
  }

  /**
   * Calls a method with a community token. Throttling (6, 9), VK's own failures (10, HTTP 5xx)
   * and dropped connections are retried with the same parameters: for messages.send, the same
   * random_id, so a send VK took before the answer was lost is not made twice.
   */
  async call<T>(method: string, token: string, params: Params = {}): Promise<T> {
    const { maxAttempts = 4, retryBaseMs = 1000 } = this.options;
    const body = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== undefined) body.set(key, String(value));
    body.set('access_token', token);
    body.set('v', apiVersion);
    const form = body.toString();
    const { signal } = this.options;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.once(method, form);
      if (outcome.ok) return outcome.response as T;
      if (signal?.aborted) throw new VkApiError(undefined, `VK ${method} abandoned: the platform stopped`);
      if (!outcome.retryable || attempt >= maxAttempts) throw outcome.error;
      await sleep(Math.min(retryBaseMs * 2 ** (attempt - 1), 30_000), undefined, { signal }).catch(() => {});
    }
  }

  private async once(method: string, form: string): Promise<{ ok: true; response: unknown } | { ok: false; retryable: boolean; error: VkApiError }> {
    const { apiRoot, dispatcher, signal, timeoutMs = 15_000 } = this.options;
    const failed = (what: string, code?: number) => new VkApiError(code, `VK ${method} failed: ${what}${code === undefined ? '' : ` (error ${code})`}`);
    let status: number;
    let text: string;
    try {
      const response = await request(`${apiRoot}/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
        dispatcher,
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      status = response.statusCode;
      text = await readAnswer(response.body);
    } catch (error) {
      return { ok: false, retryable: true, error: failed((error as Error).message) };
    }
    if (status >= 500) return { ok: false, retryable: true, error: failed(`HTTP ${status}`) };
    const json = parse(text);
    if (json && 'response' in json) return { ok: true, response: json.response };
    const error = typeof json?.error === 'object' ? json.error : undefined;
    const code = typeof error?.error_code === 'number' ? error.error_code : undefined;
    const what = typeof error?.error_msg === 'string' ? error.error_msg : `HTTP ${status}, not a VK answer`;
    return { ok: false, retryable: code !== undefined && retryableCodes.has(code), error: failed(what, code) };
  }

  /** POSTs a file to an upload server VK handed out (multipart, one file field) and returns its JSON answer for the matching save method. */
  async upload(url: string, field: 'photo' | 'file', file: { data: Uint8Array; mime: string; name: string }): Promise<Answer> {
    const { dispatcher, signal, timeoutMs = 60_000 } = this.options;
    const form = new FormData();
    form.set(field, new Blob([file.data as Uint8Array<ArrayBuffer>], { type: file.mime }), file.name);
    const failed = (reason: string) => new VkApiError(undefined, `VK upload of ${file.name} failed: ${reason}`);
    let status: number;
    let text: string;
    try {
      const response = await request(url, { method: 'POST', body: form, dispatcher, signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      status = response.statusCode;
      text = await readAnswer(response.body);
    } catch (error) {
      throw failed((error as Error).message);
    }
    const json = parse(text);
    // The upload server reports a refused file in the body ({"error": "..."}), often with 200.
    if (status !== 200 || !json || typeof json.error === 'string') throw failed(typeof json?.error === 'string' ? json.error : `HTTP ${status}${json ? '' : ', not JSON'}`);
    return json;
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
