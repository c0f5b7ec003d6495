// QQ building blocks against QQ's published vectors and our fake's token endpoint.

import { afterEach, describe, expect, it } from 'vitest';
import { msgSeq, PassiveReplies } from '../adapters/qq/passive.js';
import { plan, split } from '../adapters/qq/render.js';
import { qqConfig } from '../adapters/qq/schema.js';
import { accessTokens, TokenError } from '../adapters/qq/token.js';
import { checkSignature, deriveKeys, signHex, validationAnswer } from '../adapters/qq/verify.js';
import { FakeQQ } from './fakes/qq.js';
import { sleep } from './helpers.js';

describe('qq signatures (QQ docs vectors)', () => {
  it('reproduces the op 13 example of event-emit.md', () => {
    const keys = deriveKeys('DG5g3B4j9X2KOErG');
    expect(validationAnswer(keys, 'Arq0D5A61EgUu4OxUvOp', '1725442341')).toEqual({
      plain_token: 'Arq0D5A61EgUu4OxUvOp',
      signature: '87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d01bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706',
    });
  });

  it('derives the public key of sign.md\'s demo from its secret', () => {
    const { publicKey } = deriveKeys('naOC0ocQE3shWLAfffVLB1rhYPG7');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    expect([...raw]).toEqual([215, 195, 98, 254, 120, 174, 248, 31, 242, 50, 135, 180, 147, 98, 139, 93, 176, 42, 60, 79, 227, 11, 33, 94, 77, 25, 96, 155, 93, 118, 103, 58]);
  });

  it('accepts a signature over timestamp + body and refuses every variation', () => {
    const keys = deriveKeys('naOC0ocQE3shWLAfffVLB1rhYPG7');
    const body = Buffer.from('{"op":0,"d":{},"t":"GATEWAY_EVENT_NAME"}');
    const now = 1725442341_000;
    const signature = signHex(keys, Buffer.concat([Buffer.from('1725442341'), body]));
    const check = (headers: { signature?: string; timestamp?: string }, raw = body, at = now) => checkSignature(keys, { signature: headers.signature, timestamp: headers.timestamp }, raw, 300_000, at);
    expect(check({ signature, timestamp: '1725442341' })).toEqual({ ok: true });
    expect(check({ signature: signature.toUpperCase(), timestamp: '1725442341' })).toEqual({ ok: true });
    expect(check({ signature, timestamp: '1725442342' })).toMatchObject({ ok: false, reason: 'wrong signature' });
    expect(check({ signature }, body)).toMatchObject({ ok: false });
    expect(check({ signature, timestamp: '1725442341' }, Buffer.from(`${body} `))).toMatchObject({ ok: false, reason: 'wrong signature' });
    expect(check({ signature: 'zz'.repeat(64), timestamp: '1725442341' })).toMatchObject({ ok: false });
    expect(check({ signature, timestamp: '1725442341' }, body, now + 301_000)).toMatchObject({ ok: false, reason: expect.stringMatching(/stale/) });
    expect(checkSignature(keys, { signature, timestamp: '1725442341' }, body, 0, now + 86_400_000)).toEqual({ ok: true });
  });
});

describe('qq access tokens', () => {
  let fake: FakeQQ | undefined;
  afterEach(async () => {
    await fake?.stop();
    fake = undefined;
  });
  const tokensFor = (f: FakeQQ, secret = f.appSecret, now?: () => number) => accessTokens({ appId: f.appId, appSecret: secret, tokenUrl: `${f.url}/app/getAppAccessToken`, ...(now ? { now } : {}) });

  it('shares one request between concurrent callers and reads expires_in as the string QQ sends', async () => {
    fake = await new FakeQQ().start();
    const tokens = tokensFor(fake);
    const got = await Promise.all([tokens.get(), tokens.get(), tokens.get(), tokens.get()]);
    expect(new Set(got).size).toBe(1);
    expect(await tokens.get()).toBe(got[0]);
    expect(fake.tokenRequests).toBe(1);
  });

  it('fetches a new token before the old one expires', async () => {
    fake = await new FakeQQ().start();
    fake.tokenTtlSeconds = 2;
    const tokens = tokensFor(fake);
    const first = await tokens.get();
    await sleep(1450);
    const second = await tokens.get();
    expect(second).not.toBe(first);
    expect(fake.tokenIsLive(first)).toBe(true); // refreshed while the old one still worked
    expect(fake.tokenRequests).toBe(2);
  });

  it('keeps the token it holds when a refresh fails while that token is still valid, but not once the credentials are refused', async () => {
    fake = await new FakeQQ().start();
    let now = Date.now();
    const tokens = tokensFor(fake, fake.appSecret, () => now);
    const first = await tokens.get();
    now += 7200_000 - 30_000; // inside the last minute, when QQ would issue a new one
    fake.tokenEndpointDown = true;
    expect(await tokens.get()).toBe(first);
    fake.tokenEndpointDown = false;
    fake.credentialsRevoked = true;
    const error = await tokens.get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenError);
    expect((error as TokenError).failure).toEqual({ kind: 'fatal' });
    expect(fake.tokenRequests).toBe(3);
  });

  it('says clearly when QQ refuses the credentials, without repeating the secret', async () => {
    fake = await new FakeQQ().start();
    const error = await tokensFor(fake, 'wrong-secret-value').get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenError);
    expect((error as TokenError).rejected).toBe(true);
    expect((error as Error).message).toBe('QQ refused the app credentials: invalid appid or secret (code 100016); check appId and appSecret');
  });
});

describe('qq rendering and passive replies', () => {
  it('escapes guild text and writes mentions in QQ\'s embedded format; group text stays plain', () => {
    const content = [{ type: 'text' as const, text: 'a<b>&' }, { type: 'mention' as const, userId: '42', name: 'x' }, { type: 'mention' as const, all: true }];
    expect(plan(content, 'channel')).toEqual([{ kind: 'text', text: 'a&lt;b&gt;&amp;<@42>@everyone' }]);
    expect(plan(content, 'group')).toEqual([{ kind: 'text', text: 'a<b>&@x@all' }]);
  });

  it('degrades media a scene cannot show to a link, and keeps images as media', () => {
    const image = { type: 'image' as const, url: 'https://x/i.png' };
    const mp3 = { type: 'audio' as const, url: 'https://x/a.mp3', mime: 'audio/mpeg' };
    const silk = { type: 'audio' as const, url: 'https://x/a.silk', mime: 'audio/silk' };
    expect(plan([image, mp3, silk], 'user').map((p) => [p.kind, 'fileType' in p ? p.fileType : undefined])).toEqual([['media', 1], ['link', undefined], ['media', 3]]);
    expect(plan([image, silk], 'channel').map((p) => p.kind)).toEqual(['media', 'link']);
  });

  it('splits long text at line breaks, never inside an escape or a mention', () => {
    expect(split(`${'a'.repeat(15)}\n${'b'.repeat(10)}`, 20)).toEqual(['a'.repeat(15), 'b'.repeat(10)]);
    const parts = split(`${'x'.repeat(17)}&amp;yyyy`, 20);
    expect(parts).toEqual(['x'.repeat(17), '&amp;yyyy']);
    expect(split(`${'x'.repeat(15)}<@12345>`, 20)).toEqual(['x'.repeat(15), '<@12345>']);
  });

  it('answers passively only in the same chat and within QQ\'s reply window; an unknown message still in groups and C2C', () => {
    const passive = new PassiveReplies();
    const t = 1_000_000;
    passive.received('m1', 'group:G', 'group', t);
    passive.received('m2', 'user:U', 'user', t);
    passive.received('m3', 'channel:C', 'channel', t);
    expect(passive.source('m1', 'group:G', 'group', t + 1)).toBe('m1');
    expect(passive.source('m1', 'group:OTHER', 'group', t + 3)).toBeUndefined();
    expect(passive.source('m1', 'group:G', 'group', t + 6 * 60_000)).toBeUndefined();
    expect(passive.source('m2', 'user:U', 'user', t + 30 * 60_000)).toBe('m2');
    expect(passive.source('m3', 'channel:C', 'channel', t + 1)).toBe('m3');
    // Not remembered (e.g. a reply resumed after a restart): groups and C2C take no active messages, guilds do.
    expect(passive.source('unknown', 'group:G', 'group', t)).toBe('unknown');
    expect(passive.source('unknown', 'channel:C', 'channel', t)).toBeUndefined();
    expect(passive.source(undefined, 'group:G', 'group', t)).toBeUndefined();
  });

  it('remembers at most maxEntries messages, and forgets one an hour (the longest reply window) after it came', () => {
    // A message still remembered from another chat is not answered passively; a forgotten one is (as after a restart).
    const remembered = (passive: PassiveReplies, id: string, now: number) => passive.source(id, 'group:OTHER', 'group', now) === undefined;
    const bounded = new PassiveReplies(2);
    const t = 1_000_000;
    for (const id of ['m1', 'm2', 'm3']) bounded.received(id, 'group:G', 'group', t);
    expect(['m1', 'm2', 'm3'].map((id) => remembered(bounded, id, t))).toEqual([false, true, true]);
    const aging = new PassiveReplies();
    aging.received('old', 'group:G', 'group', t);
    aging.received('mid', 'group:G', 'group', t + 30 * 60_000);
    aging.received('new', 'group:G', 'group', t + 60 * 60_000);
    expect(remembered(aging, 'old', t + 60 * 60_000)).toBe(true);
    aging.received('next', 'group:G', 'group', t + 60 * 60_000 + 1);
    expect(['old', 'mid', 'new', 'next'].map((id) => remembered(aging, id, t + 60 * 60_000 + 1))).toEqual([false, true, true, true]);
    aging.received('later', 'group:G', 'group', t + 91 * 60_000);
    expect(['mid', 'new', 'later'].map((id) => remembered(aging, id, t + 91 * 60_000))).toEqual([false, true, true]);
  });

  it('derives msg_seq from the item key and the part: the same on every try, apart for other parts and items, within 1..10^8-1', () => {
    expect(msgSeq('event-1:0', 0)).toBe(msgSeq('event-1:0', 0));
    const seqs = new Set<number>();
    for (let item = 0; item < 50; item++) for (let part = 0; part < 5; part++) seqs.add(msgSeq(`event-1:${item}`, part));
    expect(seqs.size).toBe(250);
    for (const seq of seqs) expect(seq >= 1 && seq < 100_000_000 && Number.isInteger(seq)).toBe(true);
  });
});

describe('qq config', () => {
  const base = { id: 'qq', type: 'qq', appId: '102000001', appSecret: 'DG5g3B4j9X2KOErG' };

  it('defaults to webhook mode on the production API, with the message intents', () => {
    expect(qqConfig.parse(base)).toMatchObject({
      mode: 'webhook',
      sandbox: false,
      apiRoot: 'https://api.sgroup.qq.com',
      tokenUrl: 'https://bots.qq.com/app/getAppAccessToken',
      intents: (1 << 30) | (1 << 12) | (1 << 25),
      webhookTolerance: 300_000,
    });
  });

  it('targets the sandbox API with sandbox: true, takes intents by name, and explains mistakes', () => {
    expect(qqConfig.parse({ ...base, sandbox: true, intents: ['GUILD_MESSAGES', 'GROUP_AND_C2C_EVENT'] })).toMatchObject({ apiRoot: 'https://sandbox.api.sgroup.qq.com', intents: (1 << 9) | (1 << 25) });
    const bad = qqConfig.safeParse({ ...base, appId: 'abc', intents: ['GROUP'], mode: 'polling', proxy: 'ftp://127.0.0.1:21' });
    expect(bad.success).toBe(false);
    const messages = bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(messages).toContain('appId: expected the numeric AppID from q.qq.com (Development > Settings)');
    expect(messages.some((m) => m.startsWith('intents') && m.includes('GROUP_AND_C2C_EVENT'))).toBe(true);
    expect(messages.some((m) => m.startsWith('proxy: expected a proxy URL: http://, https:// or socks5://'))).toBe(true);
  });
});
