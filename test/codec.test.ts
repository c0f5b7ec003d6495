// What the durable stores write: JSON, bytes as base64 under a marker, and a journal's message
// encoded once per message object however many times its journal is written.

import { describe, expect, it } from 'vitest';
import { decode, encode, encodeJournal, parseReceived } from '../src/store/codec.js';

const message = () => ({
  id: '42',
  platform: 'telegram',
  botId: 'tg',
  channel: { id: '7', type: 'direct' },
  author: { id: '7', name: 'Ann' },
  content: [{ type: 'text', text: 'hi' }, { type: 'image', data: new Uint8Array([0, 1, 254, 255]), mime: 'image/png' }],
  text: 'hi',
  mentionsBot: false,
  timestamp: 1_700_000_000_000,
  raw: { update_id: 1, message: { text: 'hi' } },
});

describe('codec', () => {
  it('round-trips values with bytes anywhere in them', () => {
    const value = { a: [1, { b: new Uint8Array([9, 8]) }], c: 'x', d: null };
    expect(decode(encode(value))).toEqual(value);
    expect(decode(encode('plain'))).toBe('plain');
  });

  it('writes a journal that reads back whole, at every stage, around the same message', () => {
    const m = message();
    const received = { stage: 'received', message: m };
    const delivering = { stage: 'delivering', message: m, request: { text: 'hi' }, result: { reply: [{ type: 'file', data: new Uint8Array([5]) }] }, outcome: 'answered' };
    expect(decode(encodeJournal(received))).toEqual(received);
    expect(decode(encodeJournal(delivering))).toEqual(delivering);
    // Written again (a second update of the same stage): the same text.
    expect(encodeJournal(delivering)).toBe(encodeJournal(delivering));
    // Alone with its message.
    expect(decode(encodeJournal({ message: m }))).toEqual({ message: m });
  });

  it('encodes a new message object afresh (a stage that changes the message makes a new one)', () => {
    const first = message();
    const merged = { ...first, text: 'patched' };
    expect(decode<{ message: { text: string } }>(encodeJournal({ stage: 'received', message: first })).message.text).toBe('hi');
    expect(decode<{ message: { text: string } }>(encodeJournal({ stage: 'onMessage', message: merged })).message.text).toBe('patched');
  });

  it('writes anything else as encode() does', () => {
    for (const value of [null, 3, 'text', [1, 2], { stage: 'x' }, { message: null }, { message: 'text' }]) expect(encodeJournal(value)).toBe(encode(value));
  });
});

describe('a message parsed from a request body', () => {
  it('journals its raw payload as the text it came in, and reads back the same message', () => {
    const body = '{"update_id":9, "message":{"text":"héllo \\u00e9","chat":{"id":7}}}';
    const m = { ...message(), content: [{ type: 'text', text: 'hi' }], raw: parseReceived(body) };
    const text = encodeJournal({ stage: 'received', message: m });
    // The body as it came, spacing and escapes included: not the parsed object written out again.
    expect(text).toContain(`"raw":${body}`);
    expect(decode(text)).toEqual({ stage: 'received', message: m });
  });

  it('writes a payload that is a new object (a stage changed it) from the object', () => {
    const received = parseReceived('{"update_id":9, "message":{"text":"hi"}}') as { update_id: number };
    const changed = { ...message(), content: [], raw: { ...received, update_id: 10 } };
    const text = encodeJournal({ message: changed });
    expect(text).toContain('"raw":{"update_id":10,"message":{"text":"hi"}}');
    expect(decode(text)).toEqual({ message: changed });
  });

  it('parses anything JSON as JSON.parse does, and refuses what is not JSON', () => {
    for (const body of ['3', '"x"', 'null', '[1,{"a":2}]', '{}']) expect(parseReceived(body)).toEqual(JSON.parse(body));
    expect(() => parseReceived('{"a":')).toThrow(SyntaxError);
  });
});
