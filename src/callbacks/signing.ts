import { createHmac } from 'node:crypto';

/** The key behind a Standard Webhooks secret ("whsec_" + base64). */
export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

/**
 * Standard Webhooks headers (standardwebhooks.com): the signature is
 * base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")), sent as "v1,<sig>".
 */
export function signatureHeaders(key: Buffer, id: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000).toString();
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
