// Lark's crypto against its published example and round trips with the fake's independent
// encryption and signing; config checks; rendering limits.

import { describe, expect, it } from 'vitest';
import { aesKey, checkSignature, decrypt, tokenMatches } from '../adapters/lark/verify.js';
import { ChatKinds } from '../adapters/lark/chats.js';
import { failureOf, toApiError } from '../adapters/lark/errors.js';
import { card, plan, textLimit } from '../adapters/lark/render.js';
import { larkConfig } from '../adapters/lark/schema.js';
import { encrypt, sign } from './fakes/lark.js';

describe('lark crypto', () => {
  it('decrypts the example from Lark\'s event-subscription docs (key "test key")', () => {
    // The ciphertext/plaintext pair Lark publishes with its decryption samples.
    expect(decrypt(aesKey('test key'), 'P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=')).toBe('hello world');
  });

  it('refuses the example under another key, and input that is not a ciphertext', () => {
    expect(() => decrypt(aesKey('other key'), 'P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=')).toThrow();
    expect(() => decrypt(aesKey('test key'), 'c2hvcnQ=')).toThrow(/not an AES-256-CBC ciphertext/);
    expect(() => decrypt(aesKey('test key'), Buffer.alloc(40).toString('base64'))).toThrow();
  });

  it('round-trips what the fake encrypts, unicode included, with a fresh IV each time', () => {
    const text = JSON.stringify({ schema: '2.0', event: { message: { content: '{"text":"你好 👋"}' } } });
    const a = encrypt('k3y', text);
    const b = encrypt('k3y', text);
    expect(a).not.toBe(b);
    expect(decrypt(aesKey('k3y'), a)).toBe(text);
    expect(decrypt(aesKey('k3y'), b)).toBe(text);
  });

  it('checks X-Lark-Signature over the raw bytes: exact spacing matters, and so do key, nonce and timestamp', () => {
    const body = '{"encrypt": "abc"}'; // not JSON.stringify spacing: a re-serializing check would fail here
    const good = { timestamp: '1700000000', nonce: 'n-1', signature: sign('1700000000', 'n-1', 'key', body) };
    expect(checkSignature('key', good, Buffer.from(body))).toEqual({ ok: true });
    expect(checkSignature('key', good, Buffer.from('{"encrypt":"abc"}'))).toEqual({ ok: false, reason: 'wrong signature' });
    expect(checkSignature('other', good, Buffer.from(body))).toEqual({ ok: false, reason: 'wrong signature' });
    expect(checkSignature('key', { ...good, nonce: 'n-2' }, Buffer.from(body))).toEqual({ ok: false, reason: 'wrong signature' });
    expect(checkSignature('key', { ...good, timestamp: '1700000001' }, Buffer.from(body))).toEqual({ ok: false, reason: 'wrong signature' });
    expect(checkSignature('key', { ...good, signature: undefined }, Buffer.from(body)).ok).toBe(false);
    expect(checkSignature('key', { ...good, signature: 'zz' }, Buffer.from(body))).toEqual({ ok: false, reason: 'X-Lark-Signature is not a hex SHA-256 digest' });
  });

  it('refuses a signed timestamp outside the tolerance, either way, and one that is not a unix time', () => {
    const body = '{"encrypt":"abc"}';
    const at = (timestamp: string) => ({ timestamp, nonce: 'n', signature: sign(timestamp, 'n', 'key', body) });
    const now = 1_700_000_000_000;
    expect(checkSignature('key', at('1700000000'), Buffer.from(body), 300_000, now)).toEqual({ ok: true });
    expect(checkSignature('key', at('1699999700'), Buffer.from(body), 300_000, now)).toEqual({ ok: true });
    expect(checkSignature('key', at('1699999699'), Buffer.from(body), 300_000, now).ok).toBe(false);
    expect(checkSignature('key', at('1700000301'), Buffer.from(body), 300_000, now).ok).toBe(false);
    expect(checkSignature('key', at('1e9'), Buffer.from(body), 300_000, now)).toEqual({ ok: false, reason: 'X-Lark-Request-Timestamp is not a unix time' });
    expect(checkSignature('key', at('1000'), Buffer.from(body), 0, now)).toEqual({ ok: true });
  });

  it('compares tokens exactly', () => {
    expect(tokenMatches('abc', 'abc')).toBe(true);
    expect(tokenMatches('abd', 'abc')).toBe(false);
    expect(tokenMatches('abcd', 'abc')).toBe(false);
    expect(tokenMatches(undefined, 'abc')).toBe(false);
  });
});

describe('lark config', () => {
  const base = { id: 'lark', type: 'lark', appId: 'cli_a1b2c3d4e5f60718', appSecret: 'secret-secret' };

  it('maps feishu, lark and a URL to the API base', () => {
    expect(larkConfig.parse({ ...base, verificationToken: 't' }).baseUrl).toBe('https://open.feishu.cn');
    expect(larkConfig.parse({ ...base, verificationToken: 't', domain: 'lark' }).baseUrl).toBe('https://open.larksuite.com');
    expect(larkConfig.parse({ ...base, verificationToken: 't', domain: 'http://127.0.0.1:9/' }).baseUrl).toBe('http://127.0.0.1:9');
  });

  it('needs the verification token for webhooks, and an App ID the SDK accepts for the long connection', () => {
    const noToken = larkConfig.safeParse(base);
    expect(noToken.success).toBe(false);
    expect(noToken.error!.issues[0]).toMatchObject({ path: ['verificationToken'] });
    expect(larkConfig.safeParse({ ...base, mode: 'websocket' }).success).toBe(true);
    const badId = larkConfig.safeParse({ ...base, appId: 'cli_short', mode: 'websocket' });
    expect(badId.error!.issues[0]!.message).toMatch(/16 hex digits/);
    expect(larkConfig.safeParse({ ...base, verificationToken: 't', encryptKey: '' }).data!.encryptKey).toBeUndefined();
  });
});

describe('lark rendering', () => {
  it('splits long text at the limit without cutting an <at> tag', () => {
    const text = `${'x'.repeat(textLimit - 5)} `;
    const planned = plan([{ type: 'text', text }, { type: 'mention', userId: 'ou_1', name: 'Bob' }, { type: 'text', text: ' hi' }]);
    expect(planned.map((p) => p.kind === 'text' && p.text.slice(-30))).toEqual([expect.stringMatching(/x+ ?$/), '<at user_id="ou_1">Bob</at> hi']);
  });

  it('puts buttons on a card with the text before them, mentions shown as plain @names', () => {
    const planned = plan([{ type: 'mention', userId: 'ou_1', name: 'Bob' }, { type: 'text', text: ' choose' }, { type: 'buttons', rows: [[{ label: 'A' }]] }]);
    expect(planned).toEqual([{ kind: 'card', text: '@Bob choose', rows: [[{ label: 'A' }]] }]);
    expect(card('', [[{ label: 'A' }]])).toEqual({ config: { wide_screen_mode: true }, elements: [{ tag: 'action', actions: [{ tag: 'button', text: { tag: 'plain_text', content: 'A' }, type: 'primary', value: { value: 'A' } }] }] });
  });
});

describe('lark chat kinds (for card clicks)', () => {
  it('stays within its bound, forgetting the chat heard from least recently', () => {
    const chats = new ChatKinds(3);
    chats.remember('a', 'direct');
    chats.remember('b', 'direct');
    chats.remember('c', 'direct');
    chats.remember('a', 'direct'); // heard from again: now the most recent
    for (let i = 0; i < 100; i++) chats.remember(`g${i}`, 'group');
    chats.remember('d', 'direct');
    chats.remember('a', 'direct');
    expect(chats.size).toBe(3);
    expect([chats.kindOf('a'), chats.kindOf('d'), chats.kindOf('b'), chats.kindOf('g99')]).toEqual(['direct', 'direct', 'group', 'group']);
  });
});

describe('lark failures, as the core retry policy reads them', () => {
  it('a refused token is auth; rate limits wait as long as Lark says; 5xx and no answer are retryable; the rest is final', () => {
    expect(failureOf(400, 99991663)).toEqual({ kind: 'auth' });
    expect(failureOf(401, 99991668)).toEqual({ kind: 'auth' });
    // The open platform's frequency control is the app's (every chat waits); 230020 is one chat's.
    expect(failureOf(429, 99991400, { 'x-ogw-ratelimit-reset': '2' })).toEqual({ kind: 'rate-limited', afterMs: 2000, scope: 'bot' });
    expect(failureOf(400, 99991400, { 'x-ogw-ratelimit-reset': '52' })).toEqual({ kind: 'rate-limited', afterMs: 52_000, scope: 'bot' });
    expect(failureOf(400, 230020)).toEqual({ kind: 'rate-limited', scope: 'chat' });
    expect(failureOf(503, undefined)).toEqual({ kind: 'retryable' });
    expect(failureOf(undefined, undefined)).toEqual({ kind: 'retryable' });
    expect(failureOf(400, 230002)).toEqual({ kind: 'fatal' });
    expect(failureOf(200, 10014)).toEqual({ kind: 'fatal' });
  });

  it('an axios error with no answer is retryable, an error of our own making is not, and neither message carries the request', () => {
    const timeout = Object.assign(new Error('timeout of 300ms exceeded'), { isAxiosError: true, code: 'ECONNABORTED', config: { headers: { Authorization: 'Bearer t-secret' } } });
    const network = toApiError('POST /open-apis/im/v1/messages', timeout);
    expect(network.failure).toEqual({ kind: 'retryable' });
    expect(network.message).toBe('Lark POST /open-apis/im/v1/messages failed: timeout of 300ms exceeded');
    expect(toApiError('x', new TypeError('bug')).failure).toEqual({ kind: 'fatal' });
    const answered = Object.assign(new Error('Request failed with status code 429'), { isAxiosError: true, response: { status: 429, headers: { 'x-ogw-ratelimit-reset': '1' }, data: { code: 99991400, msg: 'request trigger frequency limit' } } });
    expect(toApiError('x', answered)).toMatchObject({ status: 429, code: 99991400, failure: { kind: 'rate-limited', afterMs: 1000, scope: 'bot' }, message: 'Lark x failed: request trigger frequency limit (code 99991400) [HTTP 429]' });
  });
});

