// The frame of Lark's long connection (the SDK's pbbp2.Frame, proto2), encoded by hand: the fake
// ships in switchboard/testing, which must not need a protobuf library the package does not depend on.
//
//   message Header { required string key = 1; required string value = 2; }
//   message Frame {
//     required uint64 SeqID = 1; required uint64 LogID = 2; required int32 service = 3; required int32 method = 4;
//     repeated Header headers = 5; optional string payload_encoding = 6; optional string payload_type = 7;
//     optional bytes payload = 8; optional string LogIDNew = 9;
//   }

export interface FrameObject {
  SeqID: number | { toNumber(): number };
  LogID: number | { toNumber(): number };
  service: number;
  method: number;
  headers: { key: string; value: string }[];
  payload?: Uint8Array;
}

const varintType = 0;
const bytesType = 2;

export function encodeFrame(frame: FrameObject): Uint8Array {
  const out: number[] = [];
  const number = (value: number | { toNumber(): number }) => (typeof value === 'number' ? value : value.toNumber());
  varintField(out, 1, number(frame.SeqID));
  varintField(out, 2, number(frame.LogID));
  varintField(out, 3, frame.service);
  varintField(out, 4, frame.method);
  for (const header of frame.headers) {
    const inner: number[] = [];
    bytesField(inner, 1, utf8(header.key));
    bytesField(inner, 2, utf8(header.value));
    bytesField(out, 5, Uint8Array.from(inner));
  }
  if (frame.payload) bytesField(out, 8, frame.payload);
  return Uint8Array.from(out);
}

/** Missing fields read as proto2 defaults: 0, no headers, an empty payload. */
export function decodeFrame(bytes: Uint8Array): FrameObject {
  const frame: FrameObject = { SeqID: 0, LogID: 0, service: 0, method: 0, headers: [], payload: new Uint8Array() };
  for (const [field, value] of fields(bytes)) {
    if (field === 1) frame.SeqID = Number(value);
    else if (field === 2) frame.LogID = Number(value);
    else if (field === 3) frame.service = Number(value);
    else if (field === 4) frame.method = Number(value);
    else if (field === 5 && value instanceof Uint8Array) {
      const header = { key: '', value: '' };
      for (const [f, v] of fields(value)) if (v instanceof Uint8Array) header[f === 1 ? 'key' : 'value'] = Buffer.from(v).toString('utf8');
      frame.headers.push(header);
    } else if (field === 8 && value instanceof Uint8Array) frame.payload = value;
  }
  return frame;
}

function* fields(bytes: Uint8Array): Generator<[number, bigint | Uint8Array]> {
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= bytes.length) throw new Error('pbbp2: truncated varint');
      const byte = bytes[at++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const type = key & 7;
    if (type === varintType) yield [field, varint()];
    else if (type === bytesType) {
      const length = Number(varint());
      if (at + length > bytes.length) throw new Error('pbbp2: truncated field');
      yield [field, bytes.subarray(at, (at += length))];
    } else throw new Error(`pbbp2: unexpected wire type ${type} of field ${field}`);
  }
}

function varintField(out: number[], field: number, value: number): void {
  writeVarint(out, BigInt((field << 3) | varintType));
  // int32 negatives are ten-byte two's complement on the wire.
  writeVarint(out, value < 0 ? BigInt.asUintN(64, BigInt(value)) : BigInt(value));
}

function bytesField(out: number[], field: number, value: Uint8Array): void {
  writeVarint(out, BigInt((field << 3) | bytesType));
  writeVarint(out, BigInt(value.length));
  for (const byte of value) out.push(byte);
}

function writeVarint(out: number[], value: bigint): void {
  while (value >= 0x80n) {
    out.push(Number(value & 0x7fn) | 0x80);
    value >>= 7n;
  }
  out.push(Number(value));
}

const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
