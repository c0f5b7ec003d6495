// The Callback API route. VK counts only a 200 "ok" as delivered and retries anything else
// (with X-Retry-Counter), so every answer here is chosen for what VK will do next. An event we
// cannot take now gets the core's 503 (unavailable(): Retry-After as the server is configured).

import type { AdapterContext, Admission } from '../../src/adapter.js';
import { authenticated, HttpError, readRawBody, unavailable } from '../../src/inbound/http.js';
import type { WebhookAnswer, WebhookRequest } from '../../src/inbound/webhooks.js';
import type { Callback } from './normalize.js';
import type { Community } from './schema.js';
import type { Communities } from './verify.js';

export interface WebhookOptions {
  communities: Communities;
  /** The running adapter's context, or undefined while stopped. */
  context(): AdapterContext | undefined;
  onEvent(callback: Callback, community: Community): Promise<Admission>;
}

/** The only answer VK counts as delivered (with a 200). */
const delivered = answer(200, 'ok');

/** A refused confirmation is most often an operator pressing Confirm before saving the secret key. */
const confirmationHint = 'VK checks the server before events flow: save the same secret key as `secret` on the Callback API page, then press Confirm again';

export function webhookHandler(options: WebhookOptions) {
  return async (request: WebhookRequest): Promise<WebhookAnswer> => {
    const ctx = options.context();
    if (!ctx) throw unavailable('this platform is stopped');
    let raw: Buffer;
    try {
      raw = await readRawBody(request.raw, ctx.bodyLimit);
    } catch (error) {
      if (error instanceof HttpError) return answer(error.status, error.message);
      throw error;
    }
    const callback = parse(raw);
    if (typeof callback === 'string') return answer(400, callback);
    const verdict = options.communities.verify(callback.group_id, callback.secret);
    if (!verdict.ok) {
      // Not "ok", so a forged request learns nothing and is never processed. If VK itself is
      // refused (the secret key on the Callback API page differs), it retries and the community
      // page shows the failure, which is how the operator notices; a silent "ok" would lose events.
      const hint = callback.type === 'confirmation' && verdict.status === 401 ? { hint: confirmationHint } : {};
      ctx.logger.warn({ reason: verdict.reason, groupId: typeof callback.group_id === 'number' ? callback.group_id : undefined, ip: request.ip, ...hint }, 'VK callback refused');
      return answer(verdict.status, verdict.reason);
    }
    authenticated(request, { logger: ctx.logger, ack: delivered });
    if (callback.type === 'confirmation') {
      const { groupId } = verdict.community;
      const code = options.communities.confirmation(groupId);
      // Only without a configured string, before autoSetup could ask VK for it: VK may try again.
      if (code === undefined) throw unavailable('the confirmation string is not known yet');
      ctx.logger.info({ groupId }, 'answered the VK Callback API confirmation');
      return answer(200, code);
    }
    // The event's id is its dedup key: anything but a string cannot be one.
    if (callback.event_id !== undefined && typeof callback.event_id !== 'string') throw new HttpError(400, 'event_id is not a string');
    const retry = request.header('x-retry-counter');
    if (retry) ctx.logger.debug({ eventId: callback.event_id, retry }, 'VK redelivered an event');
    // Shutting down, or the store could not record it: VK is asked to come back rather than told "ok" for an event no one will handle.
    if ((await options.onEvent(callback, verdict.community)) === 'closed') throw unavailable('cannot take events right now');
    return delivered;
  };
}

function answer(status: number, text: string): WebhookAnswer {
  return { status, type: 'text/plain', body: text };
}

/** The callback, or what is wrong with the body. */
function parse(raw: Buffer): Callback | string {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    return 'request body is not valid JSON';
  }
  const callback = value as Callback | null;
  return typeof callback === 'object' && callback !== null && typeof callback.type === 'string' ? callback : 'not a VK callback: expected a JSON object with type and group_id';
}
