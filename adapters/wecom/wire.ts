// HTTP to WeCom over undici: JSON calls answered with {errcode, errmsg} (made again, after a
// wait, when WeCom refuses them for its rate limit), multipart uploads (field "media"), and
// bounded downloads. URLs carry the access token or the robot key, so no error message here
// ever includes one.

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Dispatcher } from 'undici';
import { readBounded } from '../../src/net/fetch-file.js';
import type { MediaBody } from '../../src/media/media.js';
import { backoffDelay, type BackoffPolicy } from '../../src/inbound/supervisor.js';

export class WecomError extends Error {
  override readonly name = 'WecomError';
  constructor(
    /** WeCom's errcode (e.g. 42001 access_token expired); undefined for an HTTP-level failure. */
    readonly errcode: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface WireOptions {
  dispatcher?: Dispatcher;
  timeoutMs?: number;
  /** How a call refused for the rate limit is made again; none: not at all. */
  retry?: RateLimitRetry;
}

/**
 * errcodes that say "too many calls, nothing was done": api freq out of limit (45009; a robot may
 * send 20 a minute) and too many concurrent calls (45033). Sending again after a wait cannot double.
 */
export const rateLimitCodes: ReadonlySet<number> = new Set([45009, 45033]);

export interface RateLimitRetry extends BackoffPolicy {
  /** Calls in all, the first included. */
  attempts: number;
  /** Aborted when the adapter stops: a wait in progress ends at once. */
  signal?: AbortSignal;
}

/** Waits growing from 1 s to 30 s (with jitter), at least a minute in all: longer than a per-minute limit takes to reset. */
export const defaultRateLimitRetry: RateLimitRetry = { attempts: 9, initialMs: 1000, maxMs: 30_000, factor: 2 };

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

type CallInit = { method: 'GET' | 'POST'; json?: unknown; file?: FileBody };

/** `what` names the call in errors ("message/send"); the URL itself is never shown. */
export async function call(what: string, url: string, init: CallInit, options: WireOptions = {}): Promise<Answer> {
  const { retry } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await callOnce(what, url, init, options);
    } catch (error) {
      if (!retry || attempt >= retry.attempts || !(error instanceof WecomError) || error.errcode === undefined || !rateLimitCodes.has(error.errcode)) throw error;
      try {
        await sleep(backoffDelay(attempt - 1, retry), undefined, { signal: retry.signal });
      } catch {
        throw new WecomError(error.errcode, `${error.message}; stopped while waiting to send again`);
      }
    }
  }
}

async function callOnce(what: string, url: string, init: CallInit, options: WireOptions): Promise<Answer> {
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
    response = await request(url, { method: init.method, headers, body, dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  } catch (error) {
    throw new WecomError(undefined, `WeCom ${what} unreachable: ${(error as Error).message.replace(/https?:\/\/\S+/g, '<url>')}`);
  }
  const text = (await readBounded(response.body, maxAnswerBytes, () => new WecomError(undefined, `WeCom ${what} answered more than ${maxAnswerBytes} bytes`))).toString('utf8');
  let answer: Answer;
  try {
    answer = JSON.parse(text) as Answer;
  } catch {
    throw new WecomError(undefined, `WeCom ${what} answered HTTP ${response.statusCode} without JSON`);
  }
  if (response.statusCode >= 400 || (answer.errcode !== undefined && answer.errcode !== 0)) throw failure(what, response.statusCode, answer);
  return answer;
}

export function failure(what: string, status: number, answer: Answer): WecomError {
  // errmsg often ends with ", hint: [...], from ip: ..., more info at https://open.work.weixin.qq.com/devtool/query?e=42001": keep the first part.
  const message = typeof answer.errmsg === 'string' && answer.errmsg ? answer.errmsg.split(/,\s*hint:/)[0] : `HTTP ${status}`;
  return new WecomError(answer.errcode, `WeCom ${what} failed: ${message}${answer.errcode === undefined ? '' : ` (errcode ${answer.errcode})`}`);
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
    response = await request(url, { dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  } catch (error) {
    throw new WecomError(undefined, `${what} unreachable: ${(error as Error).message.replace(/https?:\/\/\S+/g, '<url>')}`);
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
    if (answer.errcode !== undefined && answer.errcode !== 0) throw failure(what, response.statusCode, answer);
    if (response.statusCode !== 200) throw new WecomError(undefined, `${what} failed with HTTP ${response.statusCode}`);
    return { data: new Uint8Array(Buffer.from(text)), mime: type, name: options.name };
  }
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw new WecomError(undefined, `${what} failed with HTTP ${response.statusCode}`);
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
