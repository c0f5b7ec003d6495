// Values to and from the JSON text a durable backend keeps. Bytes (a bot's image, say) travel as
// base64 under a marker key; everything else is plain JSON.

const BYTES = '$bytes';

export function encode(value: unknown): string {
  // A replacer slows every value down; most values hold no bytes, and a walk to find out is cheaper.
  // A plain value (a dedup key's event id, a count) holds none: no walk, no stack for it.
  return typeof value === 'object' && value !== null && holdsBytes(value) ? JSON.stringify(value, replacer) : JSON.stringify(value);
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
