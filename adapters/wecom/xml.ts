// Callback bodies and their decrypted messages are XML; parsed with a real parser, values kept as
// strings (a MsgId is a 64-bit integer that a JS number would round).

import { XMLParser } from 'fast-xml-parser';

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  htmlEntities: false,
  isArray: (_name, jpath) => jpath === 'xml.MixedMessage.MsgItem' || jpath === 'xml.Attachment.Actions',
});

/** The children of the root <xml> element, or undefined when the text is not well-formed XML of that shape. */
export function parseXml(text: string): Record<string, unknown> | undefined {
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) return undefined; // no entity definitions: nothing to expand
  let doc: unknown;
  try {
    doc = parser.parse(text, true);
  } catch {
    return undefined;
  }
  const root = (doc as { xml?: unknown } | undefined)?.xml;
  return typeof root === 'object' && root !== null && !Array.isArray(root) ? (root as Record<string, unknown>) : undefined;
}

/** A string field, or undefined when absent or not text. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
