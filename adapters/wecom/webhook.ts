// The callback URL (one for either kind): GET is WeCom's URL check (answer the decrypted echostr),
// POST carries an encrypted message. Every request is checked (fresh timestamp, signature over
// the ciphertext) before anything else is done with it: the envelope's Encrypt is cut out without
// parsing, so a forged body costs a string search and a hash, not an XML parse. Then it is
// decrypted and its receive id checked. A message is handed on and answered at once with an
// empty 200, well within WeCom's 5 s; one that passed the signature but cannot be read is logged
// and answered the same (see authenticated()), or WeCom would send it again and again.

import type { Context as KoaContext } from 'koa';
import type { AdapterContext, Admission } from '../../src/adapter.js';
import { authenticated, HttpError, readRawBody, unavailable } from '../../src/inbound/http.js';
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

export function urlCheckHandler(options: CallbackOptions) {
  return async (koa: KoaContext): Promise<void> => {
    const ctx = running(options);
    const echo = query(koa, 'echostr');
    if (!echo) throw new HttpError(400, 'echostr is required');
    checkSignature(koa, options, ctx, echo);
    const plain = open(koa, options, ctx, echo);
    ctx.logger.info('answered WeCom\'s callback URL check');
    koa.status = 200;
    koa.type = 'text/plain';
    koa.body = plain.toString('utf8');
  };
}

export function callbackHandler(options: CallbackOptions) {
  return async (koa: KoaContext): Promise<void> => {
    const ctx = running(options);
    const raw = await readRawBody(koa, ctx.bodyLimit);
    const encrypted = envelopeEncrypt(raw.toString('utf8'));
    if (!encrypted) throw new HttpError(400, 'expected an XML body <xml><Encrypt>…</Encrypt></xml>');
    checkSignature(koa, options, ctx, encrypted);
    authenticated(koa, { logger: ctx.logger, ack: { body: '', type: 'text/plain' } });
    const inner = parseXml(open(koa, options, ctx, encrypted).toString('utf8'));
    if (!inner) throw new HttpError(400, 'the decrypted message is not XML of the expected shape');
    // Not taken (shutting down, or the store could not record it): a 503 makes WeCom deliver it again.
    if ((await options.onCallback(inner)) === 'closed') throw unavailable('cannot take the message now; deliver it again later');
    koa.status = 200;
    koa.type = 'text/plain';
    koa.body = '';
  };
}

function running(options: CallbackOptions): AdapterContext {
  const ctx = options.context();
  if (!ctx) throw unavailable('this platform is stopped');
  return ctx;
}

/** Checks the request's timestamp and its signature over `encrypted`. */
function checkSignature(koa: KoaContext, options: CallbackOptions, ctx: AdapterContext, encrypted: string): void {
  const sig = query(koa, 'msg_signature');
  const timestamp = query(koa, 'timestamp');
  const nonce = query(koa, 'nonce');
  if (!sig || !timestamp || !nonce) refuse(koa, ctx, 400, 'msg_signature, timestamp and nonce are required');
  if (!/^\d{1,12}$/.test(timestamp)) refuse(koa, ctx, 400, 'timestamp is not a unix time');
  if (options.replayWindowMs > 0 && Math.abs(Date.now() - Number(timestamp) * 1000) > options.replayWindowMs) refuse(koa, ctx, 401, 'timestamp is outside the replay window (stale or replayed request)');
  if (!signatureMatches(options.keys, sig, timestamp, nonce, encrypted)) refuse(koa, ctx, 401, 'wrong msg_signature');
}

/** Decrypts a signed `encrypted` and checks the receive id it was sealed for. */
function open(koa: KoaContext, options: CallbackOptions, ctx: AdapterContext, encrypted: string): Buffer {
  let opened: { message: Buffer; receiveId: string };
  try {
    opened = decrypt(options.keys, encrypted);
  } catch (error) {
    // Signed with our token, so most likely sealed with another EncodingAESKey.
    if (error instanceof CiphertextError || (error as { code?: string }).code?.startsWith('ERR_OSSL')) refuse(koa, ctx, 400, `bad ciphertext (${(error as Error).message}); is encodingAESKey the one on WeCom's page?`);
    throw error;
  }
  if (opened.receiveId !== options.receiveId) refuse(koa, ctx, 401, 'the receive id in the message does not match corpId');
  return opened.message;
}

function refuse(koa: KoaContext, ctx: AdapterContext, status: number, reason: string): never {
  ctx.logger.warn({ reason, ip: koa.ip }, 'WeCom callback refused');
  throw new HttpError(status, `callback refused: ${reason}`);
}

/** A query parameter as sent: Koa decodes "+" to a space, but none of these values contains a space, and base64 does contain "+". */
function query(koa: KoaContext, name: string): string | undefined {
  const value = koa.query[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text ? text.replace(/ /g, '+') : undefined;
}
