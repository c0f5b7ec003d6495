// The IM REST API over undici: every call signed with the admin's UserSig in the query string,
// errors read from the body (Tencent answers HTTP 200 with ActionStatus FAIL), rate limits,
// 5xx and a host not reachable yet waited out with backoff, an expired UserSig replaced once.

import { randomInt } from 'node:crypto';
import { request } from 'undici';
import { readBounded } from '../../src/net/fetch-file.js';
import type { UserSigs } from './usersig.js';

/** Tencent's codes for "too many requests": REST-wide (600xx) and group messaging (10006, 10023). */
const rateLimited = new Set([60007, 60011, 60018, 60019, 10006, 10023]);
const userSigExpired = 70001;
/** Tencent's replies are a few hundred bytes; anything this large is not one. */
const maxReplyBytes = 1024 * 1024;

export class TimApiError extends Error {
  override readonly name = 'TimApiError';
  constructor(
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface TimReply {
  ActionStatus?: string;
  ErrorCode?: number;
  ErrorInfo?: string;
  [field: string]: unknown;
}

export interface RestApiOptions {
  apiRoot: string;
  sdkAppId: number;
  identifier: string;
  userSigs: UserSigs;
  timeoutMs?: number;
  /** Attempts for a rate-limited or briefly unavailable call. */
  maxAttempts?: number;
  /** First backoff wait; doubled on every further attempt. */
  backoffMs?: number;
}

export class RestApi {
  constructor(private readonly options: RestApiOptions) {}

  /** POSTs `body` to /v4/<path> (e.g. "openim/sendmsg") and returns the reply of a call that succeeded. */
  async call(path: string, body: object): Promise<TimReply> {
    const { apiRoot, sdkAppId, identifier, userSigs, timeoutMs = 10_000, maxAttempts = 4, backoffMs = 1000 } = this.options;
    const payload = JSON.stringify(body);
    let renewedSig = false;
    for (let attempt = 1; ; attempt++) {
      const sig = userSigs.get();
      const query = new URLSearchParams({ sdkappid: String(sdkAppId), identifier, usersig: sig, random: String(randomInt(0, 4_294_967_295)), contenttype: 'json' });
      // The URL carries the UserSig: only `path` ever goes into an error message.
      const { reply, failure } = await post(`${apiRoot}/v4/${path}?${query}`, path, payload, timeoutMs);
      if (!failure) return reply;
      if (failure.error.code === userSigExpired && !renewedSig) {
        userSigs.invalidate(sig);
        renewedSig = true;
        attempt--;
        continue;
      }
      if (!failure.retryable || attempt >= maxAttempts) throw failure.error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(backoffMs * 2 ** (attempt - 1), 16_000)));
    }
  }
}

/** Errors raised before the request left: nothing reached Tencent, so trying again cannot send twice. */
const notSent = new Set(['ECONNREFUSED', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

async function post(url: string, path: string, payload: string, timeoutMs: number): Promise<{ reply: TimReply; failure: Failure | undefined }> {
  let response;
  try {
    response = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { reply: {}, failure: { error: new TimApiError(undefined, `IM REST ${path} failed: ${(error as Error).message}`), retryable: typeof code === 'string' && notSent.has(code) } };
  }
  const text = await readBounded(response.body, maxReplyBytes, () => new TimApiError(undefined, `IM REST ${path} failed: the reply is larger than ${maxReplyBytes} bytes`));
  const reply = parse(text.toString('utf8'));
  return { reply, failure: failureOf(path, response.statusCode, reply) };
}

type Failure = { error: TimApiError; retryable: boolean };

/** Undefined for a call that succeeded; else the error, and whether waiting and trying again can help. */
function failureOf(path: string, status: number, reply: TimReply): Failure | undefined {
  if (status !== 200) return { error: new TimApiError(undefined, `IM REST ${path} failed: HTTP ${status}`), retryable: status === 429 || status >= 500 };
  if (reply.ActionStatus === 'OK' && (reply.ErrorCode ?? 0) === 0) return undefined;
  const code = typeof reply.ErrorCode === 'number' ? reply.ErrorCode : undefined;
  return { error: new TimApiError(code, `IM REST ${path} failed: ${reply.ErrorInfo || 'no error info'} (ErrorCode ${code ?? 'missing'})`), retryable: code !== undefined && rateLimited.has(code) };
}

function parse(text: string): TimReply {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null ? (value as TimReply) : {};
  } catch {
    return { ErrorInfo: text.slice(0, 200) };
  }
}
