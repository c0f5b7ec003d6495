// The Lark open API through the SDK's Client: the tenant access token is fetched, cached (in this
// instance's own cache) and refreshed by the SDK; this module turns its answers and axios errors
// into values and errors that say what failed, without credentials.

import type { Readable } from 'node:stream';
import { Client, DefaultCache, defaultHttpInstance, LoggerLevel } from '@larksuiteoapi/node-sdk';
import { readBounded } from '../../src/net/fetch-file.js';
import type { Logger } from '../../src/runtime/logger.js';
import type { MediaBody } from '../../src/media/media.js';
import type { ResourceType } from './normalize.js';

export class LarkApiError extends Error {
  override readonly name = 'LarkApiError';
  constructor(
    message: string,
    readonly status: number | undefined,
    /** Lark's business code (e.g. 230002 "the bot is not in the chat"). */
    readonly code: number | undefined,
  ) {
    super(message);
  }
}

export interface LarkApiOptions {
  appId: string;
  appSecret: string;
  baseUrl: string;
  logger: Logger;
  /** How long any one HTTP request to Lark (the token fetch included) may go unanswered. */
  timeoutMs: number;
}

export type MessageBody = { msg_type: 'text' | 'image' | 'file' | 'interactive'; content: string };

/** Lark's codes for a tenant access token it no longer accepts (expired early, or the app secret was reset). */
const staleTokenCodes = new Set([99991661, 99991663, 99991668]);

export class LarkApi {
  readonly client: Client;
  private readonly cache = new DefaultCache();

  constructor(options: LarkApiOptions) {
    this.client = new Client({
      appId: options.appId,
      appSecret: options.appSecret,
      domain: options.baseUrl,
      // The SDK's default cache is process-global and keyed by appId: two instances (or tests) would share tokens.
      cache: this.cache,
      httpInstance: withTimeout(options.timeoutMs),
      logger: sdkLogger(options.logger),
      loggerLevel: LoggerLevel.warn,
    });
  }

  /** The bot's own open_id and name: how @mentions of the bot are recognized. */
  async botInfo(timeoutMs: number): Promise<{ openId: string; name?: string }> {
    const answer = await this.call('GET /open-apis/bot/v3/info', () =>
      this.client.request({ method: 'GET', url: '/open-apis/bot/v3/info', timeout: timeoutMs } as Parameters<Client['request']>[0]),
    );
    const bot = (answer as { bot?: { open_id?: unknown; app_name?: unknown } }).bot;
    if (typeof bot?.open_id !== 'string') throw new LarkApiError('GET /open-apis/bot/v3/info returned no bot.open_id', undefined, undefined);
    return { openId: bot.open_id, ...(typeof bot.app_name === 'string' ? { name: bot.app_name } : {}) };
  }

  /** Sends to a chat, or as a reply to `replyTo`; returns the new message_id. */
  async send(chatId: string, body: MessageBody, replyTo?: string): Promise<string> {
    const answer = replyTo
      ? await this.call('POST /open-apis/im/v1/messages/:message_id/reply', () => this.client.im.message.reply({ path: { message_id: replyTo }, data: body }))
      : await this.call('POST /open-apis/im/v1/messages', () => this.client.im.message.create({ params: { receive_id_type: 'chat_id' }, data: { receive_id: chatId, ...body } }));
    const id = (answer as { data?: { message_id?: unknown } }).data?.message_id;
    return typeof id === 'string' ? id : '';
  }

  async uploadImage(data: Buffer): Promise<string> {
    const answer = await this.call('POST /open-apis/im/v1/images', () => this.client.im.image.create({ data: { image_type: 'message', image: data } }));
    const key = (answer as { image_key?: unknown } | null)?.image_key;
    if (typeof key !== 'string') throw new LarkApiError('image upload returned no image_key', undefined, undefined);
    return key;
  }

  async uploadFile(data: Buffer, name: string, fileType: 'opus' | 'mp4' | 'pdf' | 'doc' | 'xls' | 'ppt' | 'stream'): Promise<string> {
    const answer = await this.call('POST /open-apis/im/v1/files', () => this.client.im.file.create({ data: { file_type: fileType, file_name: name, file: data } }));
    const key = (answer as { file_key?: unknown } | null)?.file_key;
    if (typeof key !== 'string') throw new LarkApiError('file upload returned no file_key', undefined, undefined);
    return key;
  }

  /** The bytes of an image or file in a message the bot can see (GET …/messages/:id/resources/:key?type=). */
  async resource(messageId: string, key: string, type: ResourceType, name: string | undefined, maxBytes: number): Promise<MediaBody> {
    const answer = await this.call('GET /open-apis/im/v1/messages/:message_id/resources/:file_key', () =>
      this.client.im.messageResource.get({ path: { message_id: messageId, file_key: key }, params: { type } }),
    );
    const stream = answer.getReadableStream() as Readable & AsyncIterable<Buffer>;
    let data: Buffer;
    try {
      data = await readBounded(stream, maxBytes, () => new Error(`larger than ${maxBytes} bytes`));
    } catch (error) {
      // A body cut off (timeout, reset) comes as a bare ECONNRESET, which the server takes for a client gone away and does not log.
      throw new LarkApiError(`Lark message resource ${messageId}/${key}: ${errorText(error)}`, undefined, undefined);
    }
    const headers = answer.headers as Record<string, unknown>;
    const mime = String(headers['content-type'] ?? '').split(';')[0]!.trim() || (type === 'image' ? 'image/png' : 'application/octet-stream');
    const served = /filename="?([^";]+)"?/.exec(String(headers['content-disposition'] ?? ''))?.[1];
    const fileName = name ?? served;
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), mime, ...(fileName ? { name: fileName } : {}) };
  }

  /**
   * Runs one SDK call; a non-zero `code` in a 200 answer and an HTTP error alike become a
   * LarkApiError. A token Lark refuses before the SDK's cache expires it is dropped and the call
   * made once more with a fresh one.
   */
  private async call<T>(what: string, run: () => Promise<T>, retried = false): Promise<T> {
    let answer: T;
    try {
      answer = await run();
      const code = (answer as { code?: unknown } | null)?.code;
      if (typeof code === 'number' && code !== 0) {
        const msg = (answer as { msg?: unknown }).msg;
        throw new LarkApiError(`Lark ${what} failed: ${typeof msg === 'string' ? msg : 'error'} (code ${code})`, 200, code);
      }
    } catch (error) {
      const apiError = error instanceof LarkApiError ? error : toApiError(what, error);
      if (retried || apiError.code === undefined || !staleTokenCodes.has(apiError.code)) throw apiError;
      this.cache.values.clear();
      return this.call(what, run, true);
    }
    return answer;
  }
}

type HttpInstance = NonNullable<ConstructorParameters<typeof Client>[0]['httpInstance']>;

/**
 * The SDK's own axios instance (its interceptors unwrap answers) with a timeout on every request
 * that names none: it sets none itself, so a Lark that never answers would hold a send, and the
 * chat's queue behind it, forever.
 */
function withTimeout(timeoutMs: number): HttpInstance {
  const http = defaultHttpInstance as unknown as HttpInstance;
  const timed = <T extends { timeout?: number }>(opts: T | undefined): T => ({ timeout: timeoutMs, ...opts }) as T;
  return {
    request: (opts) => http.request(timed(opts)),
    get: (url, opts) => http.get(url, timed(opts)),
    delete: (url, opts) => http.delete(url, timed(opts)),
    head: (url, opts) => http.head(url, timed(opts)),
    options: (url, opts) => http.options(url, timed(opts)),
    post: (url, data, opts) => http.post(url, data, timed(opts)),
    put: (url, data, opts) => http.put(url, data, timed(opts)),
    patch: (url, data, opts) => http.patch(url, data, timed(opts)),
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function toApiError(what: string, error: unknown): LarkApiError {
  const response = (error as { response?: { status?: number; data?: unknown } }).response;
  if (!response) return new LarkApiError(`Lark ${what} failed: ${errorText(error)}`, undefined, undefined);
  const body = (typeof response.data === 'object' && response.data !== null ? response.data : {}) as { code?: unknown; msg?: unknown };
  const code = typeof body.code === 'number' ? body.code : undefined;
  const msg = typeof body.msg === 'string' && body.msg ? body.msg : `HTTP ${response.status}`;
  return new LarkApiError(`Lark ${what} failed: ${msg}${code === undefined ? '' : ` (code ${code})`} [HTTP ${response.status}]`, response.status, code);
}

/**
 * The SDK logs whole axios errors, whose config holds the Authorization header and, for token
 * requests, the app secret. Only a summary (message, status, Lark's code and msg) reaches our log.
 */
export function sdkLogger(logger: Logger) {
  const line = (level: 'error' | 'warn' | 'info' | 'debug' | 'trace') => (...args: unknown[]) => {
    logger[level]({ sdk: 'lark' }, args.map(summarize).filter(Boolean).join(' '));
  };
  return { error: line('error'), warn: line('warn'), info: line('debug'), debug: line('trace'), trace: line('trace') };
}

function summarize(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.map(summarize).filter(Boolean).join('; ');
  if (typeof value !== 'object' || value === null) return '';
  const v = value as { message?: unknown; status?: unknown; code?: unknown; msg?: unknown; response?: { status?: unknown; data?: { code?: unknown; msg?: unknown } } };
  const parts: string[] = [];
  if (typeof v.message === 'string') parts.push(v.message);
  const status = v.response?.status ?? v.status;
  if (typeof status === 'number') parts.push(`HTTP ${status}`);
  const code = v.response?.data?.code ?? v.code;
  const msg = v.response?.data?.msg ?? v.msg;
  if (typeof code === 'number' || typeof code === 'string') parts.push(`code ${code}`);
  if (typeof msg === 'string') parts.push(msg);
  return parts.join(' ');
}
