// koipy shows the body of any status >= 400 to the user. A deliberate 5xx answer keeps that, but
// what a crashed server, its framework or a proxy in front of it writes during an outage is not
// an answer: shown raw, users would read "Internal Server Error". That is a failed call instead.

import { STATUS_CODES } from 'node:http';
import type { CallbackResponse } from './client.js';
import { isJson, mediaType } from './reply.js';

/**
 * Envoy's own 503s (Istio, Contour, Emissary, Google's load balancers), sent as text/plain and
 * without Proxy-Status unless configured: no endpoint behind the route, or none that connects.
 */
const envoyErrors = /^(no healthy upstream|upstream connect error or disconnect\/reset before headers\b)/i;

/** The generic texts of 5xx statuses ("Internal Server Error", "Bad Gateway", …), lower-cased. */
const statusTexts = new Set(Object.entries(STATUS_CODES).flatMap(([code, text]) => (Number(code) >= 500 && text ? [text.toLowerCase()] : [])));

/**
 * Why a 5xx is not a deliberate answer, or undefined when it is one (text written for the
 * user, an image, a JSON body…). Not an answer: 502 and 504 (by definition a gateway's), an
 * empty body, an HTML page, a text that is only the status line ("500 Internal Server Error"),
 * a framework's JSON error whose message is only the status text, Envoy's own error texts, or a
 * response a proxy marked as its own error (RFC 9209's `Proxy-Status: …; error=…`).
 */
export function notAnAnswer(response: CallbackResponse): string | undefined {
  const { status, body } = response;
  if (status === 502 || status === 504) return "a gateway's error";
  if (response.proxyStatus && /;\s*error\s*=/i.test(response.proxyStatus)) return "a proxy's error (Proxy-Status)";
  const text = body.toString('utf8').trim();
  if (text === '') return 'an empty body';
  const type = mediaType(response.contentType);
  if (type === 'text/html' || type === 'application/xhtml+xml' || (isText(type) && /^<(!doctype\s+html|html)\b/i.test(text))) return 'an HTML page';
  if (isText(type) && isStatusLine(text.split('\n', 1)[0]!)) return 'only its status text';
  if (isText(type) && envoyErrors.test(text)) return "a proxy's error (Envoy)";
  if (type !== undefined && isJson(type) && isGenericJsonError(text)) return "a framework's JSON error";
  return undefined;
}

/**
 * What web frameworks and gateways answer for an unhandled error when they speak JSON: Spring's
 * and Fastify's `{"error": "Internal Server Error", …}`, NestJS's and AWS API Gateway's
 * `{"message": "Internal server error"}`. A top-level string that is only a status text.
 */
function isGenericJsonError(text: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return false;
  }
  const values = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.values(value) : [value];
  return values.some((v) => typeof v === 'string' && isStatusLine(v));
}

function isText(type: string | undefined): boolean {
  return type === undefined || type.startsWith('text/') || type === 'plain/text';
}

/** "Internal Server Error", "500 Internal Server Error", "500: Internal Server Error." */
function isStatusLine(line: string): boolean {
  return statusTexts.has(line.replace(/^\s*\d{3}\b[\s:-]*/, '').replace(/[\s.!]+$/, '').toLowerCase());
}
