// The Lark open API through the SDK's Client, with the tenant access token kept in the core
// TokenCache (the SDK's own token cache is off): each call is made once and fails with a
// LarkApiError that says what failed, without credentials, and what kind of failure it is.
// Sends are retried by the core; the reads here (bot info, a message's resource) by `retry()`.

import type { Readable } from 'node:stream';
import { Client, defaultHttpInstance, LoggerLevel, withTenantToken } from './sdk.js';
import { readBounded } from '../../src/net/fetch-file.js';
import { fatal, retry, retryable, type RetryPolicy } from '../../src/delivery/retry.js';
import { TokenCache, type IssuedToken } from '../../src/delivery/token-cache.js';
import type { Logger } from '../../src/runtime/logger.js';
import type { MediaBody } from '../../src/media/media.js';
import { answerError, errorText, LarkApiError, toApiError } from './errors.js';
import type { ResourceType } from './normalize.js';

export interface LarkApiOptions {
  appId: string;
  appSecret: string;
  baseUrl: string;
  logger: Logger;
  /** How long any one HTTP request to Lark (the token fetch included) may go unanswered. */
  timeoutMs: number;
}

export type MessageBody = { msg_type: 'text' | 'image' | 'file' | 'interactive'; content: string };

export interface SendCall {
  /** The message answered (om_…); without it the message goes to the chat. */
  replyTo?: string;
  /** Lark's idempotency key (at most 50 characters): a second request with it within an hour sends nothing more. */
  uuid?: string;
  signal?: AbortSignal;
}

/** Reads are safe to repeat, and a handler or a message is waiting on them: a few quick tries. */
const readPolicy: RetryPolicy = { attempts: 3, initialDelayMs: 250, maxDelayMs: 2000, maxRetryAfterMs: 10_000 };

type RequestOptions = Parameters<Client['request']>[1];
type Payload = Parameters<Client['request']>[0];

export class LarkApi {
  readonly client: Client;
  private readonly tokens: TokenCache;

  constructor(private readonly options: LarkApiOptions) {
    this.client = new Client({
      appId: options.appId,
      appSecret: options.appSecret,
      domain: options.baseUrl,
      // Tokens live in this instance's TokenCache and are passed with each call.
      disableTokenCache: true,
      httpInstance: withTimeout(options.timeoutMs),
      logger: sdkLogger(options.logger),
      loggerLevel: LoggerLevel.warn,
    });
    // A token endpoint that is briefly down does not fail calls while the held token is still valid.
    this.tokens = new TokenCache(() => this.fetchToken(), { keepOnFailure: (error) => error instanceof LarkApiError && error.failure.kind === 'retryable' });
  }

  /** The bot's own open_id and name: how @mentions of the bot are recognized. */
  async botInfo(timeoutMs: number): Promise<{ openId: string; name?: string }> {
    const answer = await this.read('GET /open-apis/bot/v3/info', (auth) => this.client.request({ method: 'GET', url: '/open-apis/bot/v3/info', timeout: timeoutMs } as Payload, auth));
    const bot = (answer as { bot?: { open_id?: unknown; app_name?: unknown } }).bot;
    if (typeof bot?.open_id !== 'string') throw new LarkApiError('GET /open-apis/bot/v3/info returned no bot.open_id', undefined, undefined, fatal);
    return { openId: bot.open_id, ...(typeof bot.app_name === 'string' ? { name: bot.app_name } : {}) };
  }

  /** Sends to a chat, or as a reply to `call.replyTo`, once; returns the new message_id. */
  async send(chatId: string, body: MessageBody, call: SendCall = {}): Promise<string> {
    const data = { ...body, ...(call.uuid ? { uuid: call.uuid } : {}) };
    // Through client.request, which passes the abort signal on (the typed calls take none).
    const answer = call.replyTo
      ? await this.call('POST /open-apis/im/v1/messages/:message_id/reply', (auth) =>
          this.client.request({ method: 'POST', url: `/open-apis/im/v1/messages/${encodeURIComponent(call.replyTo!)}/reply`, data, signal: call.signal } as Payload, auth),
        )
      : await this.call('POST /open-apis/im/v1/messages', (auth) =>
          this.client.request({ method: 'POST', url: '/open-apis/im/v1/messages', params: { receive_id_type: 'chat_id' }, data: { receive_id: chatId, ...data }, signal: call.signal } as Payload, auth),
        );
    const id = (answer as { data?: { message_id?: unknown } }).data?.message_id;
    return typeof id === 'string' ? id : '';
  }

  /**
   * PATCH /open-apis/im/v1/messages/:message_id: replaces the content of an interactive card the
   * app sent (its config must say update_multi, before and after). Lark allows 5 a second per
   * message, and only within 14 days of the send.
   */
  async patch(messageId: string, content: string, signal?: AbortSignal): Promise<void> {
    await this.call('PATCH /open-apis/im/v1/messages/:message_id', (auth) =>
      this.client.request({ method: 'PATCH', url: `/open-apis/im/v1/messages/${encodeURIComponent(messageId)}`, data: { content }, signal } as Payload, auth),
    );
  }

  async uploadImage(data: Buffer): Promise<string> {
    const answer = await this.call('POST /open-apis/im/v1/images', (auth) => this.client.im.image.create({ data: { image_type: 'message', image: data } }, auth));
    const key = (answer as { image_key?: unknown } | null)?.image_key;
    if (typeof key !== 'string') throw new LarkApiError('image upload returned no image_key', undefined, undefined, fatal);
    return key;
  }

  async uploadFile(data: Buffer, name: string, fileType: 'opus' | 'mp4' | 'pdf' | 'doc' | 'xls' | 'ppt' | 'stream'): Promise<string> {
    const answer = await this.call('POST /open-apis/im/v1/files', (auth) => this.client.im.file.create({ data: { file_type: fileType, file_name: name, file: data } }, auth));
    const key = (answer as { file_key?: unknown } | null)?.file_key;
    if (typeof key !== 'string') throw new LarkApiError('file upload returned no file_key', undefined, undefined, fatal);
    return key;
  }

  /** The bytes of an image or file in a message the bot can see (GET …/messages/:id/resources/:key?type=). */
  async resource(messageId: string, key: string, type: ResourceType, name: string | undefined, maxBytes: number): Promise<MediaBody> {
    const answer = await this.read('GET /open-apis/im/v1/messages/:message_id/resources/:file_key', (auth) =>
      this.client.im.messageResource.get({ path: { message_id: messageId, file_key: key }, params: { type } }, auth),
    );
    const stream = answer.getReadableStream() as Readable & AsyncIterable<Buffer>;
    let data: Buffer;
    try {
      data = await readBounded(stream, maxBytes, () => new Error(`larger than ${maxBytes} bytes`));
    } catch (error) {
      // A body cut off (timeout, reset) comes as a bare ECONNRESET, which the server takes for a client gone away and does not log.
      throw new LarkApiError(`Lark message resource ${messageId}/${key}: ${errorText(error)}`, undefined, undefined, retryable);
    }
    const headers = answer.headers as Record<string, unknown>;
    const mime = String(headers['content-type'] ?? '').split(';')[0]!.trim() || (type === 'image' ? 'image/png' : 'application/octet-stream');
    const served = /filename="?([^";]+)"?/.exec(String(headers['content-disposition'] ?? ''))?.[1];
    const fileName = name ?? served;
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), mime, ...(fileName ? { name: fileName } : {}) };
  }

  /** A read, tried again under `readPolicy`; a refused token is replaced once on the way. */
  private read<T>(what: string, run: (auth: RequestOptions) => Promise<T>): Promise<T> {
    return retry(() => this.call(what, run), { policy: readPolicy });
  }

  /**
   * One SDK call with the current tenant token. A non-zero `code` in a 200 answer and an HTTP
   * error alike become a LarkApiError; a token Lark refuses is forgotten, so the next try (the
   * core's, or `read`'s) fetches a fresh one.
   */
  private async call<T>(what: string, run: (auth: RequestOptions) => Promise<T>): Promise<T> {
    const token = await this.tokens.get();
    try {
      const answer = await run(withTenantToken(token));
      const refused = answerError(what, answer);
      if (refused) throw refused;
      return answer;
    } catch (error) {
      const apiError = toApiError(what, error);
      if (apiError.failure.kind === 'auth') this.tokens.invalidate(token);
      throw apiError;
    }
  }

  /** POST /open-apis/auth/v3/tenant_access_token/internal: a token valid for `expire` seconds (2 hours). */
  private async fetchToken(): Promise<IssuedToken<string>> {
    const what = 'POST /open-apis/auth/v3/tenant_access_token/internal';
    let answer: unknown;
    try {
      answer = await this.client.request({ method: 'POST', url: '/open-apis/auth/v3/tenant_access_token/internal', data: { app_id: this.options.appId, app_secret: this.options.appSecret } });
    } catch (error) {
      throw toApiError(what, error);
    }
    const refused = answerError(what, answer);
    if (refused) throw refused;
    const { tenant_access_token: token, expire } = answer as { tenant_access_token?: unknown; expire?: unknown };
    if (typeof token !== 'string' || !token) throw new LarkApiError(`Lark ${what} returned no tenant_access_token`, 200, undefined, fatal);
    return { value: token, ttlMs: (typeof expire === 'number' && expire > 0 ? expire : 7200) * 1000 };
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
