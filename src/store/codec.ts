// Values to and from the JSON text a durable backend keeps. Bytes (a bot's image, say) travel as
// base64 under a marker key; everything else is plain JSON.

const BYTES = '$bytes';

export function encode(value: unknown): string {
  // A replacer slows every value down; most values hold no bytes, and a walk to find out is cheaper.
  // A plain value (a dedup key's event id, a count) holds none: no walk, no stack for it.
  return typeof value === 'object' && value !== null && holdsBytes(value) ? JSON.stringify(value, replacer) : JSON.stringify(value);
}

/**
 * A journal as encode() writes it, its `message` encoded once per message object. An event's
 * journal is written when it is admitted and again as its stage moves on, around the same message
 * (stages that change it make a new one: callbacks/merge.ts copies on write), and that message's
 * JSON, the platform's raw payload in it, was most of each write: JSON.stringify takes 2-4 µs for a
 * Telegram message on Node 20. Kept as long as the message object lives, no longer. A bot that
 * changes ctx.message in place changes what it handles, not what the journal says was received.
 */
export function encodeJournal(journal: unknown): string {
  if (typeof journal !== 'object' || journal === null || !('message' in journal)) return encode(journal);
  const { message, ...rest } = journal as { message: unknown };
  if (typeof message !== 'object' || message === null) return encode(journal);
  let text = encodedMessages.get(message);
  if (text === undefined) encodedMessages.set(message, (text = encodeMessage(message)));
  return withMember(encode(rest), 'message', text);
}

/** An object's JSON with one more member, whose value is JSON already: written once, not parsed or stringified again. */
function withMember(json: string, key: string, value: string): string {
  return json === '{}' ? `{"${key}":${value}}` : `${json.slice(0, -1)},"${key}":${value}}`;
}

const encodedMessages = new WeakMap<object, string>();

/**
 * JSON.parse that remembers the text for the object it returns. An inbound message's `raw` is the
 * platform's payload as parsed from the request body: its journal then carries that body as it came
 * instead of the parsed object written out again (most of a message's JSON).
 */
export function parseReceived(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (typeof value === 'object' && value !== null) receivedTexts.set(value, text);
  return value;
}

const receivedTexts = new WeakMap<object, string>();

/** A message's JSON, its `raw` as received when parseReceived() parsed it (the payload carries no bytes then). */
function encodeMessage(message: object): string {
  const raw = (message as { raw?: unknown }).raw;
  const received = typeof raw === 'object' && raw !== null ? receivedTexts.get(raw) : undefined;
  if (received === undefined) return encode(message);
  const { raw: _raw, ...rest } = message as { raw: unknown };
  return withMember(encode(rest), 'raw', received);
}

function holdsBytes(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const next = stack.pop();
    if (typeof next !== 'object' || next === null) continue;
    if (ArrayBuffer.isView(next)) return true;
    if (Array.isArray(next)) {
      for (const item of next) if (typeof item === 'object' && item !== null) stack.push(item);
    } else {
      for (const key in next) {
        const item = (next as Record<string, unknown>)[key];
        if (typeof item === 'object' && item !== null) stack.push(item);
      }
    }
  }
  return false;
}

export function decode<T>(text: string): T {
  return JSON.parse(text, reviver) as T;
}

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // A Buffer has already been turned into {type:'Buffer', data:[…]} by its toJSON: look at the original.
  const original = this[key];
  if (original instanceof Uint8Array) return { [BYTES]: Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64') };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[BYTES] === 'string' && Object.keys(value).length === 1) {
    return new Uint8Array(Buffer.from((value as Record<string, string>)[BYTES]!, 'base64'));
  }
  return value;
}
