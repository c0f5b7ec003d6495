// The webhook route: body bounded, X-Lark-Signature checked over the raw bytes, the body
// decrypted, the URL-verification challenge answered, header.token checked; then the event is
// handed to the SDK's EventDispatcher (its own checks off: they hash a re-serialized body and
// never look at the token) and answered at once, the work carrying on in the background.

import type { Context as KoaContext } from 'koa';
import type { AdapterContext, Admission } from '../../src/adapter.js';
import { HttpError, readRawBody, unavailable } from '../../src/inbound/http.js';
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

export function webhookHandler(options: WebhookOptions) {
  return async (koa: KoaContext): Promise<void> => {
    const ctx = options.context();
    if (!ctx) throw unavailable('this platform is stopped');
    const raw = await readRawBody(koa, ctx.bodyLimit);
    const signature = { timestamp: header(koa, 'x-lark-request-timestamp'), nonce: header(koa, 'x-lark-request-nonce'), signature: header(koa, 'x-lark-signature') };
    const { encryption } = options;
    // A signature, when present, is checked before anything else is read.
    const signed = encryption !== undefined && signature.signature !== undefined;
    if (signed) refuseUnless(ctx, koa, checkSignature(encryption.encryptKey, signature, raw, options.replayWindowMs));
    const payload = open(parseObject(raw.toString('utf8')), encryption);

    if (payload.type === 'url_verification') {
      // Lark may send the challenge unsigned; it must still carry our verification token.
      if (!tokenMatches(payload.token, options.verificationToken)) refuse(ctx, koa, 'url_verification with a wrong or missing token');
      if (typeof payload.challenge !== 'string') throw new HttpError(400, 'url_verification without a challenge (string)');
      ctx.logger.info('answered the Lark URL verification challenge');
      koa.status = 200;
      koa.body = { challenge: payload.challenge };
      return;
    }
    if (typeof payload.header !== 'object' || payload.header === null || typeof payload.event !== 'object' || payload.event === null)
      throw new HttpError(400, 'not a Lark event: expected {schema: "2.0", header, event} (subscribe with the 2.0 event schema)');
    // With an Encrypt Key set, Lark signs every event: an unsigned one is forged.
    if (encryption && !signed) refuse(ctx, koa, 'missing X-Lark-Signature, X-Lark-Request-Timestamp or X-Lark-Request-Nonce');
    if (!tokenMatches(payload.header.token, options.verificationToken)) refuse(ctx, koa, 'header.token is not our verification token');
    // Not taken (shutting down, or the store cannot record it): a 503 makes Lark deliver it again later.
    if ((await options.onEvent(payload)) === 'closed') throw unavailable('not taken now; deliver it again later');
    koa.status = 200;
    koa.body = {};
  };
}

/** The event itself: the body, or what its `encrypt` field decrypts to. */
function open(body: Payload, encryption: WebhookOptions['encryption']): Payload {
  if (!('encrypt' in body)) return body;
  if (!encryption) throw new HttpError(400, 'the body is encrypted but no encryptKey is configured for this platform');
  if (typeof body.encrypt !== 'string') throw new HttpError(400, '`encrypt` must be a base64 string');
  let plain: string;
  try {
    plain = decrypt(encryption.key, body.encrypt);
  } catch {
    throw new HttpError(400, 'could not decrypt `encrypt` with the configured encryptKey');
  }
  return parseObject(plain);
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

function header(koa: KoaContext, name: string): string | undefined {
  return koa.get(name) || undefined;
}

function refuseUnless(ctx: AdapterContext, koa: KoaContext, check: { ok: true } | { ok: false; reason: string }): void {
  if (!check.ok) refuse(ctx, koa, check.reason);
}

function refuse(ctx: AdapterContext, koa: KoaContext, reason: string): never {
  ctx.logger.warn({ reason, ip: koa.ip }, 'Lark webhook request refused');
  throw new HttpError(401, `verification failed: ${reason}`);
}
