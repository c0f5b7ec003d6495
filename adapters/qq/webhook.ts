// The webhook route: every request's Ed25519 signature is checked before its body is even parsed;
// op 13 proves we hold the secret, op 0 events are admitted and ACKed (op 12) at once. An event
// Switchboard cannot take (shutting down, the store failing) is answered 503, which QQ delivers again.

import type { AdapterContext, Admission } from '../../src/adapter.js';
import { authenticated, HttpError, readRawBody, unavailable } from '../../src/inbound/http.js';
import type { WebhookAnswer, WebhookRequest } from '../../src/inbound/webhooks.js';
import type { Payload } from './normalize.js';
import { checkSignature, validationAnswer, type WebhookKeys } from './verify.js';

export interface WebhookOptions {
  keys: WebhookKeys;
  /** How far X-Signature-Timestamp may be from now; 0 turns the check off. */
  toleranceMs: number;
  /** The running adapter's context, or undefined while stopped. */
  context(): AdapterContext | undefined;
  onEvent(payload: Payload): Promise<Admission>;
}

/** QQ's acknowledgement of an event (op 12, HTTP Callback ACK). */
const ack = { body: JSON.stringify({ op: 12, d: 0 }), type: 'application/json' };

export function webhookHandler(options: WebhookOptions) {
  return async (request: WebhookRequest): Promise<WebhookAnswer> => {
    const ctx = options.context();
    if (!ctx) throw unavailable('this platform is stopped');
    const raw = await readRawBody(request.raw, ctx.bodyLimit);
    const check = checkSignature(options.keys, { signature: request.header('x-signature-ed25519'), timestamp: request.header('x-signature-timestamp') }, raw, options.toleranceMs);
    if (!check.ok) {
      ctx.logger.warn({ reason: check.reason, ip: request.ip }, 'webhook request refused: signature check failed');
      throw new HttpError(401, `signature check failed: ${check.reason}`);
    }
    authenticated(request, { logger: ctx.logger, ack });
    return answer(parsePayload(raw), options, ctx);
  };
}

async function answer(payload: Payload, options: WebhookOptions, ctx: AdapterContext): Promise<WebhookAnswer> {
  switch (payload.op) {
    case 13: {
      const d = payload.d as { plain_token?: unknown; event_ts?: unknown } | undefined;
      if (typeof d?.plain_token !== 'string' || typeof d.event_ts !== 'string') throw new HttpError(400, 'op 13 needs d.plain_token and d.event_ts (strings)');
      ctx.logger.info('answered the webhook address validation (op 13)');
      return { body: validationAnswer(options.keys, d.plain_token, d.event_ts) };
    }
    case 0:
      // QQ documents no ACK that asks for the event again; an answer that is not 2xx does.
      if ((await options.onEvent(payload)) === 'closed') throw unavailable('Switchboard cannot take this event now');
      return ack;
    case 1:
      return { body: { op: 11, d: payload.d ?? null } };
    default:
      return ack;
  }
}

function parsePayload(raw: Buffer): Payload {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || !Number.isInteger((value as Payload).op)) throw new HttpError(400, 'not a QQ payload: op (integer) is required');
  return value as Payload;
}
