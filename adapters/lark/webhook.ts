// The webhook route: body bounded, then authenticated before anything in it is read: with an
// Encrypt Key, X-Lark-Signature over the raw bytes (Lark signs every request then, the URL check
// too) before anything is decrypted; without one, the verification token in the plain body. Every
// request that fails gets the same answer, so a forger learns nothing (decrypting unsigned bodies
// and answering bad padding apart from bad JSON was a padding oracle). Once authenticated, what
// cannot be read is logged and acknowledged (see authenticated()). The URL-verification challenge
// is answered here; events go to the SDK's EventDispatcher (its own checks off: they hash a
// re-serialized body and never look at the token) and are answered at once, the work carrying on
// in the background.

import type { AdapterContext, Admission } from '../../src/adapter.js';
import { authenticated, HttpError, readRawBody, unavailable } from '../../src/inbound/http.js';
import type { WebhookAnswer, WebhookRequest } from '../../src/inbound/webhooks.js';
import { checkSignature, decrypt, tokenMatches } from './verify.js';

export interface WebhookOptions {
  verificationToken: string;
  /** How far a signed request's timestamp may be from now, in ms; 0 turns the check off. */
  replayWindowMs: number;
  /** With the AES key derived from it; absent when events arrive in plain JSON. */
  encryption: { encryptKey: string; key: Buffer } | undefined;
  /** The running adapter's context, or undefined while stopped. */
  context(): AdapterContext | undefined;
  /** Hands a verified, decrypted event on; resolves once it is admitted. */
  onEvent(event: Record<string, unknown>): Promise<Admission>;
}

type Payload = Record<string, unknown> & { type?: unknown; challenge?: unknown; token?: unknown; header?: { token?: unknown; event_type?: unknown } };

/** What Lark counts as delivered (with a 200). */
const delivered = { body: '{}', type: 'application/json' };

export function webhookHandler(options: WebhookOptions) {
  return async (request: WebhookRequest): Promise<WebhookAnswer> => {
    const ctx = options.context();
    if (!ctx) throw unavailable('this platform is stopped');
    const raw = await readRawBody(request.raw, ctx.bodyLimit);
    const payload = options.encryption ? openSigned(request, ctx, raw, options, options.encryption) : openPlain(request, ctx, raw);
    const challenge = payload.type === 'url_verification';
    // The token every request carries (in the 2.0 schema's header; at the top in a challenge or a
    // 1.0 event): checked with a signature too, so a body signed for another app is not taken.
    const token = typeof payload.header === 'object' && payload.header !== null ? payload.header.token : payload.token;
    if (!tokenMatches(token, options.verificationToken)) refuse(ctx, request, challenge ? 'url_verification with a wrong or missing token' : 'header.token is not our verification token');
    // Without a signature, the token is what shows the request is Lark's.
    if (!options.encryption) authenticated(request, { logger: ctx.logger, ack: delivered });

    if (challenge) {
      if (typeof payload.challenge !== 'string') throw new HttpError(400, 'url_verification without a challenge (string)');
      ctx.logger.info('answered the Lark URL verification challenge');
      return { body: { challenge: payload.challenge } };
    }
    if (typeof payload.header !== 'object' || payload.header === null || typeof payload.event !== 'object' || payload.event === null)
      throw new HttpError(400, 'not a Lark event: expected {schema: "2.0", header, event} (subscribe with the 2.0 event schema)');
    // Not taken (shutting down, or the store cannot record it): a 503 makes Lark deliver it again later.
    if ((await options.onEvent(payload)) === 'closed') throw unavailable('not taken now; deliver it again later');
    return delivered;
  };
}

/** With an Encrypt Key: the signature first (nothing unsigned is decrypted), then the event, decrypted when it is encrypted. */
function openSigned(request: WebhookRequest, ctx: AdapterContext, raw: Buffer, options: WebhookOptions, encryption: { encryptKey: string; key: Buffer }): Payload {
  const headers = { timestamp: request.header('x-lark-request-timestamp'), nonce: request.header('x-lark-request-nonce'), signature: request.header('x-lark-signature') };
  const check = checkSignature(encryption.encryptKey, headers, raw, options.replayWindowMs);
  if (!check.ok) refuse(ctx, request, check.reason);
  // Signed by Lark: from here on what cannot be read is acknowledged, not refused (Lark would send it again).
  authenticated(request, { logger: ctx.logger, ack: delivered });
  const body = parseObject(raw.toString('utf8'));
  if (!('encrypt' in body)) return body;
  if (typeof body.encrypt !== 'string') throw new HttpError(400, '`encrypt` must be a base64 string');
  let plain: string;
  try {
    plain = decrypt(encryption.key, body.encrypt);
  } catch {
    throw new HttpError(400, 'could not decrypt `encrypt` with the configured encryptKey');
  }
  return parseObject(plain);
}

/** Without an Encrypt Key: a plain JSON event; what cannot be read cannot show our token, and is refused like a forgery. */
function openPlain(request: WebhookRequest, ctx: AdapterContext, raw: Buffer): Payload {
  let body: Payload;
  try {
    body = parseObject(raw.toString('utf8'));
  } catch (error) {
    return refuse(ctx, request, (error as Error).message);
  }
  if ('encrypt' in body) refuse(ctx, request, 'the body is encrypted but no encryptKey is configured for this platform');
  return body;
}

function parseObject(text: string): Payload {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'request body is not a JSON object');
  return value as Payload;
}

/** One answer for every request that is not Lark's, whatever the reason (which only the log line says). */
function refuse(ctx: AdapterContext, request: WebhookRequest, reason: string): never {
  ctx.logger.warn({ reason, ip: request.ip }, 'Lark webhook request refused');
  throw new HttpError(401, 'verification failed');
}
