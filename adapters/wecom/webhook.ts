// The callback URL (one for either kind): GET is WeCom's URL check (answer the decrypted echostr),
// POST carries an encrypted message. Every request is checked (fresh timestamp, signature over
// the ciphertext) before anything else is done with it: the envelope's Encrypt is cut out without
// parsing, so a forged body costs a string search and a hash, not an XML parse. Then it is
// decrypted and its receive id checked. A message is handed on and answered at once with an
// empty 200, well within WeCom's 5 s; one that passed the signature but cannot be read is logged
// and answered the same (see authenticated()), or WeCom would send it again and again.

import type { AdapterContext, Admission } from '../../src/adapter.js';
import { authenticated, HttpError, readRawBody, unavailable } from '../../src/inbound/http.js';
import type { WebhookAnswer, WebhookRequest } from '../../src/inbound/webhooks.js';
import { CiphertextError, decrypt, signatureMatches, type CallbackKeys } from './verify.js';
import { envelopeEncrypt, parseXml } from './xml.js';

export interface CallbackOptions {
  keys: CallbackKeys;
  /** What the decrypted receive id must be: the corp id for an app, "" for a robot. */
  receiveId: string;
  /** How far the timestamp may be from now; 0 turns the check off. */
  replayWindowMs: number;
  /** The running adapter's context, or undefined while stopped. */
  context(): AdapterContext | undefined;
  /** One decrypted callback (the children of <xml>). */
  onCallback(xml: Record<string, unknown>): Promise<Admission>;
}

/** What WeCom counts as delivered: an empty 200. */
const delivered = { type: 'text/plain', body: '' };

export function urlCheckHandler(options: CallbackOptions) {
  return (request: WebhookRequest): WebhookAnswer => {
    const ctx = running(options);
    const echo = query(request, 'echostr');
    if (!echo) throw new HttpError(400, 'echostr is required');
    checkSignature(request, options, ctx, echo);
    const plain = open(request, options, ctx, echo);
    ctx.logger.info('answered WeCom\'s callback URL check');
    return { type: 'text/plain', body: plain.toString('utf8') };
  };
}

export function callbackHandler(options: CallbackOptions) {
  return async (request: WebhookRequest): Promise<WebhookAnswer> => {
    const ctx = running(options);
    const raw = await readRawBody(request.raw, ctx.bodyLimit);
    const encrypted = envelopeEncrypt(raw.toString('utf8'));
    if (!encrypted) throw new HttpError(400, 'expected an XML body <xml><Encrypt>…</Encrypt></xml>');
    checkSignature(request, options, ctx, encrypted);
    authenticated(request, { logger: ctx.logger, ack: delivered });
    const inner = parseXml(open(request, options, ctx, encrypted).toString('utf8'));
    if (!inner) throw new HttpError(400, 'the decrypted message is not XML of the expected shape');
    // Not taken (shutting down, or the store could not record it): a 503 makes WeCom deliver it again.
    if ((await options.onCallback(inner)) === 'closed') throw unavailable('cannot take the message now; deliver it again later');
    return delivered;
  };
}

function running(options: CallbackOptions): AdapterContext {
  const ctx = options.context();
  if (!ctx) throw unavailable('this platform is stopped');
  return ctx;
}

/** Checks the request's timestamp and its signature over `encrypted`. */
function checkSignature(request: WebhookRequest, options: CallbackOptions, ctx: AdapterContext, encrypted: string): void {
  const sig = query(request, 'msg_signature');
  const timestamp = query(request, 'timestamp');
  const nonce = query(request, 'nonce');
  if (!sig || !timestamp || !nonce) refuse(request, ctx, 400, 'msg_signature, timestamp and nonce are required');
  if (!/^\d{1,12}$/.test(timestamp)) refuse(request, ctx, 400, 'timestamp is not a unix time');
  if (options.replayWindowMs > 0 && Math.abs(Date.now() - Number(timestamp) * 1000) > options.replayWindowMs) refuse(request, ctx, 401, 'timestamp is outside the replay window (stale or replayed request)');
  if (!signatureMatches(options.keys, sig, timestamp, nonce, encrypted)) refuse(request, ctx, 401, 'wrong msg_signature');
}

/** Decrypts a signed `encrypted` and checks the receive id it was sealed for. */
function open(request: WebhookRequest, options: CallbackOptions, ctx: AdapterContext, encrypted: string): Buffer {
  let opened: { message: Buffer; receiveId: string };
  try {
    opened = decrypt(options.keys, encrypted);
  } catch (error) {
    // Signed with our token, so most likely sealed with another EncodingAESKey.
    if (error instanceof CiphertextError || (error as { code?: string }).code?.startsWith('ERR_OSSL')) refuse(request, ctx, 400, `bad ciphertext (${(error as Error).message}); is encodingAESKey the one on WeCom's page?`);
    throw error;
  }
  if (opened.receiveId !== options.receiveId) refuse(request, ctx, 401, 'the receive id in the message does not match corpId');
  return opened.message;
}

function refuse(request: WebhookRequest, ctx: AdapterContext, status: number, reason: string): never {
  ctx.logger.warn({ reason, ip: request.ip }, 'WeCom callback refused');
  throw new HttpError(status, `callback refused: ${reason}`);
}

/** A query parameter as sent: a query string's "+" decodes to a space, but none of these values contains a space, and base64 does contain "+". */
function query(request: WebhookRequest, name: string): string | undefined {
  return request.query(name)?.replace(/ /g, '+') || undefined;
}
