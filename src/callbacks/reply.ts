// koipy's reply table (DESIGN.md, "Callback reply semantics"), exactly.

import type { MediaType, Segment } from '../message.js';
import { CallbackError, type CallbackResponse } from './client.js';

export type CallbackReply =
  /** Go on; `content` is sent to the chat as well. */
  | { kind: 'continue'; content?: Segment[] }
  /** Deep-merge the JSON `answer` into the stage's data (see payload.ts for which part of it), then go on. */
  | { kind: 'merge'; answer: unknown }
  /** Stop here; `content` is shown to the user. */
  | { kind: 'stop'; content?: Segment[] };

export function interpret(response: CallbackResponse): CallbackReply {
  const { status, body } = response;
  const type = mediaType(response.contentType);
  if (status === 204) return { kind: 'continue' };
  if (status >= 400) {
    if (body.length === 0) return { kind: 'stop' };
    if (type === undefined || type.startsWith('text/') || type === 'plain/text' || isJson(type)) return { kind: 'stop', content: [{ type: 'text', text: body.toString('utf8') }] };
    return { kind: 'stop', content: [media(body, type, fileName(response.disposition))] };
  }
  if (status !== 200) return { kind: 'continue' }; // any other status is ignored
  if (type !== undefined && isJson(type)) return json(body);
  if (body.length === 0) return { kind: 'continue' };
  if (type === 'text/plain' || type === 'plain/text') return { kind: 'continue', content: [{ type: 'text', text: body.toString('utf8') }] };
  if (type === undefined) return { kind: 'continue', content: [{ type: 'file', data: body, mime: 'application/octet-stream', name: fileName(response.disposition) ?? 'file' }] };
  return { kind: 'continue', content: [media(body, type, fileName(response.disposition))] };
}

/** koipy's onMessage answers `web.json_response()`: a JSON `null`. That, and no body at all, mean "go on". */
function json(body: Buffer): CallbackReply {
  const text = body.toString('utf8');
  if (text.trim() === '') return { kind: 'continue' };
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new CallbackError('reply says application/json but its body is not valid JSON', 'invalid');
  }
  return answer === null ? { kind: 'continue' } : { kind: 'merge', answer };
}

export function isJson(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

export function mediaType(contentType: string | undefined): string | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type || undefined;
}

function media(data: Buffer, mime: string, name: string | undefined): Segment {
  const family = mime.split('/')[0];
  const type: MediaType = family === 'image' || family === 'audio' || family === 'video' ? family : 'file';
  return { type, data, mime, name: name ?? (type === 'file' ? 'file' : undefined) };
}

/** The filename of a Content-Disposition header; RFC 6266's filename* wins over filename. */
export function fileName(disposition: string | undefined): string | undefined {
  if (!disposition) return undefined;
  const extended = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(disposition);
  if (extended) {
    try {
      return sanitize(decodeURIComponent(extended[2]!.trim()));
    } catch {
      // fall through to the plain parameter
    }
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(disposition);
  const name = plain?.[1]?.replace(/\\(.)/g, '$1') ?? plain?.[2];
  return name ? sanitize(name) : undefined;
}

/** Keeps the last path component: a reply cannot name a file outside the chat's upload. */
function sanitize(name: string): string | undefined {
  const base = name.split(/[\\/]/).pop()?.trim();
  return base && base !== '.' && base !== '..' ? base : undefined;
}
