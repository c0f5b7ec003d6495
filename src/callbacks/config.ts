import { z } from 'zod';
import { secret } from '../runtime/secret.js';
import { byteSize, duration, httpUrl } from '../runtime/units.js';

/** A Standard Webhooks secret: "whsec_" + base64, as every Standard Webhooks library expects. */
const signingSecret = secret(
  z.string().refine((value) => {
    const body = value.startsWith('whsec_') ? value.slice(6) : value;
    return /^[A-Za-z0-9+/]+={0,2}$/.test(body) && Buffer.from(body, 'base64').length >= 16;
  }, 'expected a Standard Webhooks secret: "whsec_" followed by at least 16 base64-encoded random bytes (e.g. whsec_$(openssl rand -base64 32))'),
);

const stageObject = z.strictObject({
  url: httpUrl,
  timeout: duration.default(5000),
  secret: signingSecret.optional(),
  onError: z.enum(['continue', 'reject']).default('continue'),
  errorMessage: z.string().min(1).default('Sorry, this service is unavailable right now. Please try again later.'),
  /** A 5xx: `reject` stops with its body when it is a deliberate answer (an error page, an empty body or a proxy's error fails instead); `fail`: every 5xx fails. */
  serverErrors: z.enum(['reject', 'fail']).default('reject'),
  /** Only messages from these platform ids reach the callback. */
  platforms: z.array(z.string()).min(1).optional(),
  /** The largest payload sent; a larger one is not sent and counts as a callback error. */
  maxRequestSize: byteSize.default(10 * 1024 * 1024),
  /** The largest reply body accepted; a larger one counts as a callback error. */
  maxResponseSize: byteSize.default(10 * 1024 * 1024),
  /** onSent only (it runs after delivery, so it can wait): retries after a failure, the first after retryDelay, then doubling. */
  retries: z.number().int().min(0).max(10).default(3),
  retryDelay: duration.default(1000),
  /**
   * onResult only: a streamed reply is `collect`ed and sent after onResult (which can rewrite it),
   * or sent live while it grows and onResult `observe`s the final text (its extra content is sent).
   */
  stream: z.enum(['collect', 'observe']).optional(),
});

/** A stage is either just a URL or the full object; a URL alone is read as { url }, so every mistake is told where it is (a union would only say "invalid"). */
const stage = z.preprocess((value) => (typeof value === 'string' ? { url: value } : value), stageObject);

export const callbacksSchema = z
  .strictObject({
    onMessage: stage.optional(),
    onPreSend: stage.optional(),
    onResult: stage.optional(),
    onSent: stage.optional(),
    /** Platform events that are not chat messages (observe only: the reply changes nothing). */
    onEvent: stage.optional(),
    /**
     * The most time the callbacks a user waits for (onMessage, onPreSend, onResult) may take
     * together for one message; once spent, the stages left are skipped under their onError.
     */
    budget: duration.optional(),
  })
  // `overwrite`, not `transform`: the schema stays an object whose keys can be listed.
  .overwrite((callbacks) => {
    if (callbacks.budget !== undefined) return callbacks;
    const timeouts = [callbacks.onMessage, callbacks.onPreSend, callbacks.onResult].flatMap((s) => (s ? [s.timeout] : []));
    return timeouts.length > 0 ? { ...callbacks, budget: Math.max(...timeouts) + 1000 } : callbacks;
  });

export type CallbackConfig = z.output<typeof stageObject>;
export type CallbacksConfig = z.output<typeof callbacksSchema>;
