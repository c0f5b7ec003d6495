// The console's memory of recent messages: a ring of the last `capacity` events, each holding at
// most `eventBytes` of payloads, bodies and log lines (bigger ones are cut, secrets masked). So
// the buffer never holds more than about capacity × (eventBytes + 2 KB of bookkeeping).

import type { Message, OutgoingMessage, Segment } from '../message.js';
import type { DeliveryTrace, StageTrace, Trace } from '../pipeline/trace.js';
import { errorMessage } from '../inbound/supervisor.js';
import { renewEvery } from '../pipeline/replayable.js';

export interface BufferLimits {
  /** Messages kept; the oldest goes when a new one comes. */
  capacity: number;
  /** Bytes of stored bodies and log lines per message. */
  eventBytes: number;
}

export interface StoredBody {
  /** Text (JSON, HTML…) or, for an image, base64. */
  text: string;
  /** The full size, when `text` was cut short. */
  truncated?: number;
  base64?: true;
}

export interface StageEntry {
  stage: string;
  url: string;
  request?: { headers: Record<string, string>; body: StoredBody };
  status?: number;
  response?: { headers: Record<string, string>; body: StoredBody; contentType?: string };
  ms: number;
  outcome: string;
  error?: string;
  /** The stage's data after the merge (patched). */
  data?: StoredBody;
}

export interface DeliveryEntry {
  key: string;
  ok: boolean;
  ids: readonly string[];
  error?: string;
  ms: number;
  /** A streamed reply shown as it grew: the update calls made. */
  edits?: number;
  /** The reply as rendered for the platform: what the adapter was given (JSON when served). */
  message: StoredBody | Rendered;
}

export interface EventRecord {
  id: string;
  seq: number;
  at: number;
  platform: string;
  bot: string;
  chat: string;
  user: string;
  text: string;
  /** The normalized message as received (JSON when served). */
  message: StoredBody | Rendered;
  stages: StageEntry[];
  handler?: { ms: number; outcome: 'ok' | 'threw'; error?: string };
  deliveries: DeliveryEntry[];
  outcome?: string;
  ms?: number;
  logs: string[];
  /** Bytes of this record's stored bodies and lines, up to eventBytes. */
  bytes: number;
}

/** What the feed shows of a record: no bodies. */
export type EventSummary = Omit<EventRecord, 'message' | 'stages' | 'deliveries' | 'logs' | 'bytes'> & {
  stages: Pick<StageEntry, 'stage' | 'status' | 'ms' | 'outcome' | 'error'>[];
  deliveries: Pick<DeliveryEntry, 'key' | 'ok' | 'ids' | 'error' | 'ms' | 'edits'>[];
};

const textLimit = 200;
/** Entries per list of one record: a message does not grow without end (a long onSent retry, a chatty handler). */
const listLimit = 50;
/** Headers whose values authenticate: never kept. */
const secretHeaders = /^(authorization|proxy-authorization|cookie|set-cookie|webhook-signature|x-.*(token|secret|signature|key).*)$/i;
const masked = '********';

export class EventBuffer implements Trace {
  private readonly ring: (EventRecord | undefined)[];
  /** Renewed every renewEvery records, as the pipeline's churned maps are (pipeline/replayable.ts says why). */
  private byId = new Map<string, EventRecord>();
  private next = 0;
  private seq = 0;
  /**
   * Each change of a record stamps its ring slot with the next version: a reader (the live feed)
   * asks what changed since the version it last saw, so a change costs a counter and a store, not
   * a call per reader.
   */
  private changes = 0;
  private readonly versions: Float64Array;
  /** Called once, at the next change. */
  private wakers = new Set<() => void>();

  constructor(readonly limits: BufferLimits) {
    this.ring = new Array<EventRecord | undefined>(limits.capacity);
    this.versions = new Float64Array(limits.capacity);
  }

  /** The version of the latest change. */
  get version(): number {
    return this.changes;
  }

  /** The records changed after `version`, oldest first. */
  changedSince(version: number): EventRecord[] {
    const out: EventRecord[] = [];
    if (version >= this.changes) return out;
    const { capacity } = this.limits;
    for (let i = 0; i < capacity; i++) {
      const slot = (this.next + i) % capacity;
      const record = this.ring[slot];
      if (record && this.versions[slot]! > version) out.push(record);
    }
    return out;
  }

  /** Calls `wake` once, at the next change; the result cancels it. */
  onNextChange(wake: () => void): () => void {
    this.wakers.add(wake);
    return () => this.wakers.delete(wake);
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): EventRecord | undefined {
    return this.byId.get(id);
  }

  /** The newest `limit` records, newest first. */
  latest(limit = this.limits.capacity): EventRecord[] {
    const out: EventRecord[] = [];
    const { capacity } = this.limits;
    for (let i = 1; i <= capacity && out.length < limit; i++) {
      const record = this.ring[(this.next - i + capacity) % capacity];
      if (record) out.push(record);
    }
    return out;
  }

  received(eventId: string, message: Message): void {
    const known = this.byId.get(eventId);
    if (known) return this.changed(known); // resumed, or a prompt's turn going on
    const record: EventRecord = {
      id: eventId,
      seq: ++this.seq,
      at: Date.now(),
      platform: message.platform,
      bot: message.botId,
      chat: message.channel.id,
      user: message.author.name ? `${message.author.name} (${message.author.id})` : message.author.id,
      text: message.text.length > textLimit ? `${message.text.slice(0, textLimit - 1)}…` : message.text,
      message: emptyBody,
      stages: none,
      deliveries: none,
      logs: none,
      bytes: 0,
    };
    // The platform's raw payload is not kept: it is the platform's, and can be large.
    record.message = this.kept(record, { ...message, raw: undefined });
    const old = this.ring[this.next];
    if (old) this.byId.delete(old.id);
    if (record.seq % renewEvery === 0) this.byId = new Map(this.byId);
    this.ring[this.next] = record;
    this.next = (this.next + 1) % this.limits.capacity;
    this.byId.set(eventId, record);
    this.changed(record);
  }

  stage(eventId: string, call: StageTrace): void {
    const record = this.byId.get(eventId);
    if (!record || record.stages.length >= listLimit) return;
    const contentType = header(call.response?.headers['content-type']);
    const image = contentType?.startsWith('image/') === true;
    record.stages = appended(record.stages, {
      stage: call.stage,
      url: call.url,
      ...(call.request && { request: { headers: this.headers(record, call.request.headers), body: this.body(record, call.request.body) } }),
      ...(call.status !== undefined && { status: call.status }),
      ...(call.response && { response: { headers: this.headers(record, call.response.headers), body: this.bytesBody(record, call.response.body, image), ...(contentType && { contentType }) } }),
      ms: round(call.ms),
      outcome: call.outcome,
      ...(call.error !== undefined && { error: call.error }),
      ...(call.data !== undefined && { data: this.body(record, JSON.stringify(call.data)) }),
    });
    this.changed(record);
  }

  handled(eventId: string, ms: number, error?: unknown): void {
    const record = this.byId.get(eventId);
    if (!record) return;
    record.handler = error === undefined ? { ms: round(ms), outcome: 'ok' } : { ms: round(ms), outcome: 'threw', error: errorMessage(error) };
    this.changed(record);
  }

  delivery(eventId: string, delivery: DeliveryTrace): void {
    const record = this.byId.get(eventId);
    if (!record || record.deliveries.length >= listLimit) return;
    const { key, ok, ids, error, ms, message, edits } = delivery;
    // Absent error and edits stay undefined: the record's JSON leaves them out all the same, and one literal keeps one shape.
    record.deliveries = appended(record.deliveries, { key, ok, ids: [...ids], error, edits, ms: round(ms), message: this.kept(record, message) });
    this.changed(record);
  }

  finished(eventId: string, outcome: string, ms: number): void {
    const record = this.byId.get(eventId);
    if (!record) return;
    record.outcome = outcome;
    record.ms = round(ms);
    this.changed(record);
  }

  /** A log line (pino's JSON, already redacted) of one event. */
  log(eventId: string, line: string): void {
    const record = this.byId.get(eventId);
    if (!record || record.logs.length >= listLimit) return;
    record.logs = appended(record.logs, this.body(record, line.trimEnd()).text);
    this.changed(record);
  }

  private changed(record: EventRecord): void {
    // A record's slot follows from its seq: each new record takes the next slot and the next seq.
    this.versions[(record.seq - 1) % this.limits.capacity] = ++this.changes;
    if (this.wakers.size === 0) return;
    const wakers = this.wakers;
    this.wakers = new Set();
    for (const wake of wakers) wake();
  }

  /** Headers count against the budget too (a callback server may send many): past it, none are kept. */
  private headers(record: EventRecord, headers: Record<string, string | string[] | undefined>): Record<string, string> {
    const masked = maskHeaders(headers);
    let size = 0;
    for (const name in masked) size += name.length + masked[name]!.length + 4;
    if (size > this.limits.eventBytes - record.bytes) return { '(not kept)': `${size} bytes of headers, over the console's eventBytes for this message` };
    record.bytes += size;
    return masked;
  }

  /**
   * A message kept as it is and rendered to JSON only when someone looks (the detail view): no
   * work on the hot path. Its size is estimated and counted against the budget; one too big is
   * rendered now and cut.
   */
  private kept(record: EventRecord, message: Message | OutgoingMessage): StoredBody | Rendered {
    const size = estimate(message.content);
    const room = this.limits.eventBytes - record.bytes;
    if (size > room) return this.body(record, rendered(message));
    record.bytes += size;
    return new Rendered(message, room);
  }

  /** `text` within what is left of the record's byte budget (counted in UTF-16 units: close enough, and cheap). */
  private body(record: EventRecord, text: string): StoredBody {
    const room = Math.max(0, this.limits.eventBytes - record.bytes);
    if (text.length <= room) {
      record.bytes += text.length;
      return { text };
    }
    record.bytes += room;
    return { text: text.slice(0, room), truncated: text.length };
  }

  private bytesBody(record: EventRecord, bytes: Uint8Array, image: boolean): StoredBody {
    const room = Math.max(0, this.limits.eventBytes - record.bytes);
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // An image is kept whole or not at all: half an image shows nothing.
    if (image && (buffer.length * 4) / 3 <= room) {
      const text = buffer.toString('base64');
      record.bytes += text.length;
      return { text, base64: true };
    }
    const shown = buffer.subarray(0, Math.min(buffer.length, room));
    record.bytes += shown.length;
    return image ? { text: '', truncated: buffer.length } : { text: shown.toString('utf8'), ...(shown.length < buffer.length && { truncated: buffer.length }) };
  }
}

/**
 * The feed's view of records, as JSON. Built as plain objects and stringified without a replacer:
 * JSON.stringify's fast path, about twice as quick as filtering the records' keys with one.
 */
export function summaryJson(records: readonly EventRecord[]): string {
  return JSON.stringify(records.map(summary));
}

/** The feed's view of a record: no bodies, no log lines. */
export function summary(r: EventRecord): EventSummary {
  return {
    id: r.id,
    seq: r.seq,
    at: r.at,
    platform: r.platform,
    bot: r.bot,
    chat: r.chat,
    user: r.user,
    text: r.text,
    stages: r.stages.map(({ stage, status, ms, outcome, error }) => ({ stage, status, ms, outcome, error })),
    handler: r.handler,
    deliveries: r.deliveries.map(({ key, ok, ids, error, ms, edits }) => ({ key, ok, ids, error, ms, edits })),
    outcome: r.outcome,
    ms: r.ms,
  };
}

export function maskHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = secretHeaders.test(name) ? masked : Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

const emptyBody: StoredBody = { text: '' };

/**
 * A record's lists start as this one shared empty array, and the first entry makes one of its own
 * length: most messages add no stage or log line, and a push onto an empty array reserves 17 slots.
 * Every record is kept until a thousand newer ones push it out, long enough for V8 to move all of it
 * to the old generation; an array fewer is less to move and to collect there.
 */
const none = Object.freeze([]) as unknown as never[];

function appended<T>(list: T[], item: T): T[] {
  if (list === none) return [item];
  list.push(item);
  return list;
}

/** A message rendered to JSON (a StoredBody) when the record is served, within `cap` characters. */
export class Rendered {
  constructor(
    private readonly message: Message | OutgoingMessage,
    private readonly cap: number,
  ) {}

  toJSON(): StoredBody {
    const text = rendered(this.message);
    return text.length <= this.cap ? { text } : { text: text.slice(0, this.cap), truncated: text.length };
  }
}

/** About the characters a message's JSON takes, from its content (a Message's text is there twice): cheap, and never far below. */
function estimate(content: readonly Segment[]): number {
  let size = 400;
  for (const segment of content) {
    size += 64;
    for (const key in segment) {
      const value = (segment as unknown as Record<string, unknown>)[key];
      size += key.length + (typeof value === 'string' ? 2 * value.length : value instanceof Uint8Array ? 24 : typeof value === 'object' && value !== null ? JSON.stringify(value).length : 16);
    }
  }
  return size;
}

/** JSON (the page indents it), bytes shown as their size; without bytes, V8's fast path (no replacer) does it. */
function rendered(message: OutgoingMessage | Message): string {
  if (!message.content.some((segment) => 'data' in segment && segment.data instanceof Uint8Array)) return JSON.stringify(message);
  return JSON.stringify(message, (_, value: unknown) => (value instanceof Uint8Array ? `[${value.byteLength} bytes]` : value));
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
