// The callback route: authentication (Sign, RequestTime, SdkAppid) before the body is read,
// then one answer per command: Before* after asking the bot's interceptors, everything else
// "OK" as soon as the pipeline has taken it, the handling going on after the answer. What the
// pipeline cannot take (shutting down, the store failing) is answered 503, never acknowledged and lost.

import type { AdapterContext, Admission } from '../../src/adapter.js';
import { authenticated, HttpError, readRawBody, unavailable } from '../../src/inbound/http.js';
import type { WebhookAnswer, WebhookRequest } from '../../src/inbound/webhooks.js';
import { errorMessage } from '../../src/inbound/supervisor.js';
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
  /** Hands a message callback to the pipeline; undefined when it is not for the bot. */
  onMessage(command: string, body: MessageCallback): Promise<Admission | undefined>;
  /** Hands any other known callback to the bot's event handlers. */
  onEvent(command: string, body: Record<string, unknown>): Promise<Admission>;
}

export function webhookHandler(options: WebhookOptions) {
  return async (request: WebhookRequest): Promise<WebhookAnswer> => {
    const ctx = options.context();
    if (!ctx) throw unavailable('this platform is stopped');
    const check = checkCallback({ sdkAppId: request.query('SdkAppid'), requestTime: request.query('RequestTime'), sign: request.query('Sign') }, { sdkAppId: options.sdkAppId, token: options.token, toleranceMs: options.toleranceMs });
    if (!check.ok) {
      ctx.logger.warn({ reason: check.reason, ip: request.ip }, 'callback refused');
      throw new HttpError(check.status, `callback refused: ${check.reason}`);
    }
    authenticated(request, { logger: ctx.logger, ack: delivered });
    if (check.probe) {
      await readRawBody(request.raw, ctx.bodyLimit);
      ctx.logger.info({ command: request.query('CallbackCommand')?.slice(0, 100) }, 'signed callback without SdkAppid (a URL check?); answered OK, not handled');
      return delivered;
    }
    const body = parse(await readRawBody(request.raw, ctx.bodyLimit));
    const command = request.query('CallbackCommand') ?? (typeof body.CallbackCommand === 'string' ? body.CallbackCommand : undefined);
    if (!command) throw new HttpError(400, 'CallbackCommand is missing (query string or body)');
    const answered = await answer(command, body, options, ctx);
    if (answered === 'closed') {
      ctx.logger.warn({ command }, 'callback arrived while Switchboard cannot take it (shutting down, or the store failing); answered 503, not handled');
      throw unavailable('Switchboard cannot take this callback now');
    }
    return answered === ok ? delivered : { body: answered };
  };
}

/** What Tencent Cloud IM counts as handled. */
const delivered = { body: ok };

async function answer(command: string, body: Record<string, unknown>, options: WebhookOptions, ctx: AdapterContext): Promise<CallbackAnswer | 'closed'> {
  switch (kindOf(command)) {
    case 'before':
      return answerBefore(command, body as MessageCallback, { ctx, ...options.intercept(ctx) });
    case 'message': {
      // Admission is quick (dedup, normalize); the bot runs after the answer, so Tencent never waits for it.
      let admission: Admission | undefined;
      try {
        admission = await options.onMessage(command, body as MessageCallback);
      } catch (error) {
        ctx.logger.error({ command, err: errorMessage(error) }, 'message callback failed');
      }
      return admission === 'closed' ? 'closed' : ok;
    }
    case 'event':
      return (await options.onEvent(command, body)) === 'closed' ? 'closed' : ok;
    case 'unknown':
      ctx.logger.info({ command: command.slice(0, 100) }, 'unknown callback command; answered OK');
      return ok;
  }
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
