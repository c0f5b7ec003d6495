// HTTP to WeCom over undici: JSON calls answered with {errcode, errmsg}, multipart uploads
// (field "media"), and bounded downloads. Each call is made once; a failure is thrown as a
// WecomError carrying its classification, for the core's retry policy to act on. URLs carry
// the access token or the robot key, so no error message here ever includes one.

import { randomBytes } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { readBounded } from '../../src/net/fetch-file.js';
import type { MediaBody } from '../../src/media/media.js';
import { auth, classifyNetworkError, classifyStatus, fatal, PlatformError, rateLimited, retryable, type Failure } from '../../src/delivery/retry.js';
import { undici } from '../../src/net/undici.js';

const { request } = undici();

export class WecomError extends PlatformError {
  override name = 'WecomError';
  constructor(
    /** WeCom's errcode (e.g. 42001 access_token expired); undefined for an HTTP-level failure. */
    readonly errcode: number | undefined,
    message: string,
    failure: Failure = fatal,
  ) {
    super(message, failure);
  }
}

export interface WireOptions {
  dispatcher?: Dispatcher;
  timeoutMs?: number;
  /** Aborted when the adapter stops: calls under way are abandoned. */
  signal?: AbortSignal;
  /** How long WeCom blocks a caller over a per-minute limit (errcode 45009); shortened in tests. */
  rateLimitBlockMs?: number;
}

/** errcodes that mean "this access token is no good": invalid (40014, 40001) or expired (42001). */
const staleTokenCodes: ReadonlySet<number> = new Set([40001, 40014, 42001]);

/**
 * "按分钟拦截则被屏蔽60秒": a caller over a per-minute limit is blocked for 60 s
 * (https://developer.work.weixin.qq.com/document/path/90454, 访问频率限制).
 */
const defaultRateLimitBlockMs = 60_000;

/**
 * What an errcode asks for: 45009 (api freq out of limit) waits out WeCom's block, for all the bot
 * sends (a robot's limit is the robot's; an app over a member's limit is not refused but dropped,
 * so a refusal is an app-wide quota); 45033 (too many concurrent calls) backs off; a stale token is refreshed (by the caller, who holds it);
 * -1 (system busy, "建议稍候重试") tries again; anything else will not change by trying again.
 * None of these was carried out, so trying again cannot send twice.
 */
function failureOf(errcode: number, options: WireOptions): Failure {
  if (errcode === 45009) return rateLimited(options.rateLimitBlockMs ?? defaultRateLimitBlockMs, 'bot');
  if (errcode === 45033) return rateLimited();
  if (staleTokenCodes.has(errcode)) return auth;
  if (errcode === -1) return retryable;
  return fatal;
}

export interface Answer {
  errcode?: number;
  errmsg?: string;
  [key: string]: unknown;
}

export interface FileBody {
  data: Uint8Array;
  name: string;
  mime: string;
}

/** WeCom's JSON answers are a few hundred bytes; more is not WeCom, and is not read into memory. */
const maxAnswerBytes = 1024 * 1024;

export interface CallInit {
  method: 'GET' | 'POST';
  json?: unknown;
  file?: FileBody;
  /**
   * Whether making the call twice does no harm (a token, an upload). A message does: WeCom takes
   * no idempotency key, so a send whose connection failed after it left is not made again.
   */
  repeatable?: boolean;
  /** The caller's own signal (a send's, aborted at shutdown). */
  signal?: AbortSignal;
}

/** `what` names the call in errors ("message/send"); the URL itself is never shown. */
export async function call(what: string, url: string, init: CallInit, options: WireOptions = {}): Promise<Answer> {
  const { timeoutMs = 15_000, dispatcher } = options;
  let headers: Record<string, string> = {};
  let body: string | Buffer | undefined;
  if (init.json !== undefined) {
    headers = { 'content-type': 'application/json' };
    body = JSON.stringify(init.json);
  } else if (init.file) {
    const boundary = `----switchboard${randomBytes(12).toString('hex')}`;
    headers = { 'content-type': `multipart/form-data; boundary=${boundary}` };
    body = multipart(boundary, init.file);
  }
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, { method: init.method, headers, body, dispatcher, signal: signalOf(init.signal, options), headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  } catch (error) {
    throw unreachable(`WeCom ${what}`, error, init.repeatable ?? false);
  }
  const text = (await readBounded(response.body, maxAnswerBytes, () => new WecomError(undefined, `WeCom ${what} answered more than ${maxAnswerBytes} bytes`))).toString('utf8');
  let answer: Answer;
  try {
    answer = JSON.parse(text) as Answer;
  } catch {
    throw new WecomError(undefined, `WeCom ${what} answered HTTP ${response.statusCode} without JSON`, classifyStatus(response.statusCode, response.headers['retry-after']));
  }
  if (response.statusCode >= 400 || (answer.errcode !== undefined && answer.errcode !== 0)) throw failure(what, response.statusCode, answer, options);
  return answer;
}

export function failure(what: string, status: number, answer: Answer, options: WireOptions): WecomError {
  // errmsg often ends with ", hint: [...], from ip: ..., more info at https://open.work.weixin.qq.com/devtool/query?e=42001": keep the first part.
  const message = typeof answer.errmsg === 'string' && answer.errmsg ? answer.errmsg.split(/,\s*hint:/)[0] : `HTTP ${status}`;
  const kind = answer.errcode !== undefined && answer.errcode !== 0 ? failureOf(answer.errcode, options) : classifyStatus(status);
  return new WecomError(answer.errcode, `WeCom ${what} failed: ${message}${answer.errcode === undefined ? '' : ` (errcode ${answer.errcode})`}`, kind);
}

/** A request that threw instead of answering; its message may hold the URL, which is cut out. */
function unreachable(what: string, error: unknown, repeatable: boolean): WecomError {
  return new WecomError(undefined, `${what} unreachable: ${(error as Error).message.replace(/https?:\/\/\S+/g, '<url>')}`, classifyNetworkError(error, repeatable));
}

function signalOf(own: AbortSignal | undefined, options: WireOptions): AbortSignal | undefined {
  const { signal } = options;
  return own && signal ? AbortSignal.any([own, signal]) : (own ?? signal);
}

function multipart(boundary: string, file: FileBody): Buffer {
  const name = file.name.replace(/["\r\n]/g, '_');
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="media"; filename="${name}"; filelength=${file.data.byteLength}\r\nContent-Type: ${file.mime}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), file.data, Buffer.from(`\r\n--${boundary}--\r\n`)]);
}

/**
 * Bytes from a URL, at most `maxBytes`. WeCom's media/get answers JSON {errcode} instead of the
 * file when it refuses; that comes back as a WecomError so the caller can refresh a token.
 */
export async function download(what: string, url: string, options: WireOptions & { maxBytes?: number; mime?: string; name?: string } = {}): Promise<MediaBody> {
  const { dispatcher, timeoutMs = 15_000, maxBytes = 20 * 1024 * 1024 } = options;
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, { dispatcher, signal: options.signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  } catch (error) {
    throw unreachable(what, error, true);
  }
  const type = String(response.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || type === 'text/plain') {
    const text = (await readBounded(response.body, maxBytes, () => new WecomError(undefined, `${what}: answer larger than ${maxBytes} bytes`))).toString('utf8');
    let answer: Answer = {};
    try {
      answer = JSON.parse(text) as Answer;
    } catch {
      // not WeCom's JSON error: fall through to the status check
    }
    if (answer.errcode !== undefined && answer.errcode !== 0) throw failure(what, response.statusCode, answer, options);
    if (response.statusCode !== 200) throw new WecomError(undefined, `${what} failed with HTTP ${response.statusCode}`, classifyStatus(response.statusCode, response.headers['retry-after']));
    return { data: new Uint8Array(Buffer.from(text)), mime: type, name: options.name };
  }
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw new WecomError(undefined, `${what} failed with HTTP ${response.statusCode}`, classifyStatus(response.statusCode, response.headers['retry-after']));
  }
  const data = await readBounded(response.body, maxBytes, () => new WecomError(undefined, `${what}: file larger than ${maxBytes} bytes`));
  const name = options.name ?? filenameOf(response.headers['content-disposition']);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), mime: type && type !== 'application/octet-stream' ? type : (options.mime ?? 'application/octet-stream'), ...(name ? { name } : {}) };
}

function filenameOf(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const raw = value ? /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(value)?.[1] : undefined;
  try {
    return raw === undefined ? undefined : decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
