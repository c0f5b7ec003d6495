// The IM REST API over undici: every call signed with the admin's UserSig in the query string,
// errors read from the body (Tencent answers HTTP 200 with ActionStatus FAIL). Each call is made
// once; a failure is thrown as a TimApiError that says what kind it was, and the core's retry
// policy decides what happens next.

import { randomInt } from 'node:crypto';
import { auth, classifyNetworkError, fatal, PlatformError, rateLimited, retryable, retryAfterMs, type Failure } from '../../src/delivery/retry.js';
import { readBounded } from '../../src/net/fetch-file.js';
import { undici } from '../../src/net/undici.js';
import type { Scene } from './normalize.js';
import type { GroupAt } from './render.js';
import type { UserSigs } from './usersig.js';

const { request } = undici();

/** Too many requests: the REST API's own limits (600xx) cover the whole app; 10006 and 10023 one group. */
const appRateLimitCodes = new Set([60007, 60011, 60018, 60019]);
const groupRateLimitCodes = new Set([10006, 10023]);
const userSigExpired = 70001;
/** Tencent's replies are a few hundred bytes; anything this large is not one. */
const maxReplyBytes = 1024 * 1024;

export class TimApiError extends PlatformError {
  constructor(
    readonly code: number | undefined,
    message: string,
    failure: Failure,
  ) {
    super(message, failure);
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
}

export class RestApi {
  constructor(private readonly options: RestApiOptions) {}

  /** POSTs `body` to /v4/<path> (e.g. "openim/sendmsg") once and returns the reply of a call that succeeded. */
  async call(path: string, body: object, signal?: AbortSignal): Promise<TimReply> {
    const { apiRoot, sdkAppId, identifier, userSigs, timeoutMs = 10_000 } = this.options;
    const sig = await userSigs.get();
    const query = new URLSearchParams({ sdkappid: String(sdkAppId), identifier, usersig: sig, random: String(randomInt(0, 4_294_967_295)), contenttype: 'json' });
    // The URL carries the UserSig: only `path` ever goes into an error message.
    const failed = (code: number | undefined, reason: string, failure: Failure) => new TimApiError(code, `IM REST ${path} failed: ${reason}`, failure);
    let status: number;
    let headers: Record<string, string | string[] | undefined>;
    let text: Buffer;
    try {
      const response = await request(`${apiRoot}/v4/${path}?${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal });
      ({ statusCode: status, headers } = response);
      text = await readBounded(response.body, maxReplyBytes, () => failed(undefined, `the reply is larger than ${maxReplyBytes} bytes`, fatal));
    } catch (error) {
      if (error instanceof TimApiError) throw error;
      // Tencent takes no idempotency key: only a request that never left may be made again.
      throw failed(undefined, (error as Error).message, classifyNetworkError(error, false));
    }
    // A gateway's error page, not Tencent's answer. A 5xx may come after Tencent took the
    // message; it is tried again all the same (the doubling window docs/platforms/tencent-im.md states).
    if (status !== 200) throw failed(undefined, `HTTP ${status}`, status === 429 ? rateLimited(retryAfterMs(headers['retry-after'])) : status >= 500 ? retryable : fatal);
    const reply = parse(text.toString('utf8'));
    if (reply.ActionStatus === 'OK' && (reply.ErrorCode ?? 0) === 0) return reply;
    const code = typeof reply.ErrorCode === 'number' ? reply.ErrorCode : undefined;
    if (code === userSigExpired) userSigs.invalidate(sig);
    throw failed(code, `${reply.ErrorInfo || 'no error info'} (ErrorCode ${code ?? 'missing'})`, failureOf(code));
  }
}

function failureOf(code: number | undefined): Failure {
  if (code === userSigExpired) return auth;
  if (code !== undefined && appRateLimitCodes.has(code)) return rateLimited(undefined, 'bot');
  if (code !== undefined && groupRateLimitCodes.has(code)) return rateLimited();
  return fatal;
}

function parse(text: string): TimReply {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null ? (value as TimReply) : {};
  } catch {
    return { ErrorInfo: text.slice(0, 200) };
  }
}

/**
 * Sends one message as `from` to a user (openim/sendmsg) or a group (send_group_msg); resolves
 * with its id as an edit needs it: the MsgKey, or GroupId:MsgSeq ('' when Tencent gave none).
 */
export async function sendOne(api: RestApi, from: string, scene: Scene, body: object[], at: GroupAt[], signal?: AbortSignal): Promise<string> {
  // Tencent takes no idempotency key (MsgRandom only tells apart messages of one second): it stays random.
  const random = randomInt(0, 4_294_967_295);
  if (scene.kind === 'user') {
    const reply = await api.call('openim/sendmsg', { SyncOtherMachine: 1, From_Account: from, To_Account: scene.account, MsgRandom: random, MsgBody: body }, signal);
    return typeof reply.MsgKey === 'string' ? reply.MsgKey : '';
  }
  const reply = await api.call('group_open_http_svc/send_group_msg', { GroupId: scene.groupId, From_Account: from, Random: random, MsgBody: body, ...(at.length ? { GroupAtInfo: at } : {}) }, signal);
  return reply.MsgSeq !== undefined ? `${scene.groupId}:${String(reply.MsgSeq)}` : '';
}

/**
 * Replaces the body of a message the bot sent, by the id sendOne gave: openim/modify_c2c_msg
 * (From_Account, To_Account, MsgKey) or openim/modify_group_msg (GroupId, MsgSeq).
 */
export async function modify(api: RestApi, from: string, scene: Scene, id: string, body: object[], signal?: AbortSignal): Promise<void> {
  if (scene.kind === 'user') await api.call('openim/modify_c2c_msg', { From_Account: from, To_Account: scene.account, MsgKey: id, MsgBody: body }, signal);
  else await api.call('openim/modify_group_msg', { GroupId: scene.groupId, MsgSeq: Number(id.slice(scene.groupId.length + 1)), MsgBody: body }, signal);
}
