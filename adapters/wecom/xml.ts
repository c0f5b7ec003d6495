// Callback bodies and their decrypted messages are XML. The envelope is never parsed: its one
// field, Encrypt, is cut out with string searches, so a forged body costs no more than its
// signature check. A decrypted message is parsed with a real parser, values kept as strings (a
// MsgId is a 64-bit integer that a JS number would round), once a linear scan has bounded its
// element count and depth.

import { XMLParser } from 'fast-xml-parser';

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  htmlEntities: false,
  isArray: (_name, jpath) => jpath === 'xml.MixedMessage.MsgItem' || jpath === 'xml.Attachment.Actions',
});

/** WeCom's messages nest five deep (xml > MixedMessage > MsgItem > Image > Url) and carry tens of fields. */
export const xmlBounds = { maxElements: 2000, maxDepth: 12 };

/** No entity definitions anywhere: nothing to expand. */
const entities = /<!DOCTYPE|<!ENTITY/i;

/**
 * The base64 Encrypt value of an envelope `<xml>…<Encrypt>value</Encrypt>…</xml>` (the value may
 * be CDATA), found in linear time without parsing; undefined unless there is exactly one.
 */
export function envelopeEncrypt(text: string): string | undefined {
  const body = text.trim();
  const declared = body.startsWith('<?xml') ? body.indexOf('?>') + 2 : 0;
  if (declared === 1 || !body.slice(declared).trimStart().startsWith('<xml>') || !body.endsWith('</xml>') || entities.test(body)) return undefined;
  const open = body.indexOf('<Encrypt>');
  if (open === -1 || body.indexOf('<Encrypt>', open + 1) !== -1) return undefined;
  const close = body.indexOf('</Encrypt>', open);
  if (close === -1) return undefined;
  let value = body.slice(open + '<Encrypt>'.length, close).trim();
  if (value.startsWith('<![CDATA[') && value.endsWith(']]>')) value = value.slice('<![CDATA['.length, -']]>'.length).trim();
  return /^[A-Za-z0-9+/]+={0,2}$/.test(value) ? value : undefined;
}

/** The children of the root <xml> element, or undefined when the text is not well-formed XML of that shape (or is larger than xmlBounds). */
export function parseXml(text: string): Record<string, unknown> | undefined {
  if (entities.test(text) || !withinBounds(text)) return undefined;
  let doc: unknown;
  try {
    doc = parser.parse(text, true);
  } catch {
    return undefined;
  }
  const root = (doc as { xml?: unknown } | undefined)?.xml;
  return typeof root === 'object' && root !== null && !Array.isArray(root) ? (root as Record<string, unknown>) : undefined;
}

/** Counts elements and nesting in one pass over the tags (CDATA, comments and declarations skipped); false past xmlBounds or at a tag left open. */
function withinBounds(text: string, { maxElements, maxDepth } = xmlBounds): boolean {
  let elements = 0;
  let depth = 0;
  for (let at = text.indexOf('<'); at !== -1; at = text.indexOf('<', at)) {
    const skip = text.startsWith('<![CDATA[', at) ? ']]>' : text.startsWith('<!--', at) ? '-->' : text.startsWith('<?', at) ? '?>' : undefined;
    const end = text.indexOf(skip ?? '>', at + 1);
    if (end === -1) return false;
    if (skip === undefined) {
      if (text[at + 1] === '/') depth--;
      else if (++elements > maxElements || (text[end - 1] !== '/' && ++depth > maxDepth)) return false;
    }
    at = end + (skip ?? '>').length;
  }
  return true;
}

/** A string field, or undefined when absent or not text. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
