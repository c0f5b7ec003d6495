// The callback route: authentication (Sign, RequestTime, SdkAppid) before the body is read,
// then one answer per command: Before* after asking the bot's interceptors, everything else
// "OK" at once, with messages and events handled after the answer has gone out.

import type { Context as KoaContext } from 'koa';
import type { AdapterContext } from '../../src/adapter.js';
import { HttpError, readRawBody } from '../../src/http.js';
import { errorMessage } from '../../src/supervisor.js';
import { kindOf } from './events.js';
import { answerBefore, ok, type CallbackAnswer, type InterceptOptions } from './intercept.js';
import type { MessageCallback } from './normalize.js';
import { checkCallback } from './verify.js';

export interface WebhookOptions {
  sdkAppId: number;
  token: string | undefined;
  toleranceMs: number;
  /** The running adapter's context, or undefined while stopped. */
  context(): AdapterContext | undefined;
  intercept(ctx: AdapterContext): Omit<InterceptOptions, 'ctx'>;
  /** A message callback, after the answer. */
  onMessage(command: string, body: MessageCallback): Promise<void>;
  /** Any other known callback, after the answer. */
  onEvent(command: string, body: Record<string, unknown>): void;
}

export function webhookHandler(options: WebhookOptions) {
  return async (koa: KoaContext): Promise<void> => {
    const ctx = options.context();
    if (!ctx) throw new HttpError(503, 'this platform is stopped');
    const query = koa.query;
    const check = checkCallback({ sdkAppId: one(query.SdkAppid), requestTime: one(query.RequestTime), sign: one(query.Sign) }, { sdkAppId: options.sdkAppId, token: options.token, toleranceMs: options.toleranceMs });
    if (!check.ok) {
      ctx.logger.warn({ reason: check.reason, ip: koa.ip }, 'callback refused');
      throw new HttpError(check.status, `callback refused: ${check.reason}`);
    }
    const body = parse(await readRawBody(koa, ctx.bodyLimit));
    const command = one(query.CallbackCommand) ?? (typeof body.CallbackCommand === 'string' ? body.CallbackCommand : undefined);
    if (!command) throw new HttpError(400, 'CallbackCommand is missing (query string or body)');
    koa.status = 200;
    koa.body = await answer(command, body, options, ctx);
  };
}

async function answer(command: string, body: Record<string, unknown>, options: WebhookOptions, ctx: AdapterContext): Promise<CallbackAnswer> {
  switch (kindOf(command)) {
    case 'before':
      return answerBefore(command, body as MessageCallback, { ctx, ...options.intercept(ctx) });
    case 'message':
      // Tencent ignores the answer to After* callbacks: never make it wait for the bot.
      setImmediate(() => options.onMessage(command, body as MessageCallback).catch((error: unknown) => ctx.logger.error({ command, err: errorMessage(error) }, 'message callback failed')));
      return ok;
    case 'event':
      setImmediate(() => options.onEvent(command, body));
      return ok;
    case 'unknown':
      ctx.logger.info({ command: command.slice(0, 100) }, 'unknown callback command; answered OK');
      return ok;
  }
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parse(raw: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'request body must be a JSON object');
  return value as Record<string, unknown>;
}
