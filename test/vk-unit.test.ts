// The pure parts of the VK adapter: mention parsing, payloads, planning sends, quoting, config.

import { describe, expect, it } from 'vitest';
import { parseText } from '../adapters/vk/normalize.js';
import { plan, quoteParams, textLimit } from '../adapters/vk/render.js';
import { vkConfig } from '../adapters/vk/schema.js';
import { Communities } from '../adapters/vk/verify.js';

/** A community as written in the config. */
const entry = { groupId: 123456, token: 'x'.repeat(30), confirmation: 'abc123', secret: 'S3cret' };

describe('vk: reading text', () => {
  it('turns every mention form into mention segments and strips only a leading mention of the community', () => {
    expect(parseText('[club123456|Bot], hi [id1|Pavel] @club99 [public123456|me] @online', 123456)).toEqual({
      mentionsBot: true,
      segments: [
        { type: 'text', text: 'hi ' },
        { type: 'mention', userId: '1', name: 'Pavel' },
        { type: 'text', text: ' ' },
        { type: 'mention', userId: '-99' },
        { type: 'text', text: ' ' },
        { type: 'mention', userId: '-123456', name: 'me' },
        { type: 'text', text: ' ' },
        { type: 'mention', all: true },
      ],
    });
    expect(parseText('hello @club1234567', 123456)).toEqual({ mentionsBot: false, segments: [{ type: 'text', text: 'hello ' }, { type: 'mention', userId: '-1234567' }] });
    expect(parseText('mail me@club123456.ru', 123456).mentionsBot).toBe(false);
  });
});

describe('vk: planning a send', () => {
  it('puts up to ten attachments on the last text message, then more messages', () => {
    const images = Array.from({ length: 12 }, (_, i) => ({ type: 'image' as const, url: `https://e.x/${i}.png` }));
    const planned = plan([{ type: 'text', text: 'look' }, ...images]);
    expect(planned.map((p) => [p.text, p.media.length])).toEqual([
      ['look', 10],
      ['', 2],
    ]);
  });

  it('shows too many buttons as numbered text, and gives a lone keyboard a blank to ride on', () => {
    const row = Array.from({ length: 6 }, (_, i) => ({ label: `B${i}`, value: `v${i}` }));
    const [tooMany] = plan([{ type: 'buttons', rows: [row] }]);
    expect(tooMany!.keyboard).toBeUndefined();
    expect(tooMany!.text).toContain('1. B0 — send "v0"');
    const [lone] = plan([{ type: 'buttons', rows: [[{ label: 'Ok' }]] }]);
    expect(lone!.text).toBe('\u2800');
    expect(JSON.parse(lone!.keyboard!).buttons[0][0].action).toEqual({ type: 'text', label: 'Ok', payload: '{"value":"Ok"}' });
  });

  it('never cuts a mention in two when splitting, and sends nothing for empty content', () => {
    const text = `${'a '.repeat(2040)}[id1|Pavel Durov] end`;
    const parts = plan([{ type: 'text', text }]).map((p) => p.text);
    expect(parts.every((p) => p.length <= textLimit)).toBe(true);
    expect(parts.some((p) => p.includes('[id1|Pavel Durov]'))).toBe(true);
    expect(plan([{ type: 'text', text: '  ' }, { type: 'quote', messageId: '1' }])).toEqual([]);
  });

  it('quotes a dialog message by reply_to and a chat message by forward', () => {
    expect(quoteParams('55', 42)).toEqual({ reply_to: 55 });
    expect(quoteParams('c7', 2_000_000_001)).toEqual({ forward: '{"peer_id":2000000001,"conversation_message_ids":[7],"is_reply":true}' });
    expect(quoteParams(undefined, 42)).toEqual({});
  });
});

describe('vk: config and secrets', () => {
  it('says what is wrong with a community and applies the platform-wide autoSetup', () => {
    const bad = vkConfig.safeParse({ id: 'vk', type: 'vk', communities: [{ ...entry, groupId: -5, secret: 'has space' }] });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.message).join('\n')).toMatch(/without the minus sign[\s\S]*Latin letters and digits/);
    const { confirmation: _, ...unconfirmed } = entry;
    const missing = vkConfig.safeParse({ id: 'vk', type: 'vk', communities: [unconfirmed] });
    expect(missing.error!.issues[0]).toMatchObject({ path: ['communities', 0, 'confirmation'], message: expect.stringMatching(/or autoSetup: true, which asks VK for it/) });
    expect(vkConfig.safeParse({ id: 'vk', type: 'vk', communities: [{ ...unconfirmed, autoSetup: true }] }).success).toBe(true);
    const dup = vkConfig.safeParse({ id: 'vk', type: 'vk', communities: [entry, entry] });
    expect(dup.error!.issues[0]!.message).toBe('each groupId may be listed once');
    const ok = vkConfig.parse({ id: 'vk', type: 'vk', autoSetup: true, communities: [entry, { ...entry, groupId: 2, autoSetup: false }] });
    expect(ok.apiRoot).toBe('https://api.vk.ru/method');
    expect(ok.communities.map((c) => c.autoSetup)).toEqual([true, false]);
  });

  it('knows a community only by its numeric id and its exact secret', () => {
    const communities = new Communities([{ ...entry, autoSetup: false }]);
    expect(communities.verify(123456, 'S3cret')).toMatchObject({ ok: true });
    expect(communities.verify(123456, 'S3cre')).toEqual({ ok: false, status: 401, reason: 'wrong or missing secret' });
    expect(communities.verify('123456', 'S3cret')).toEqual({ ok: false, status: 403, reason: 'unknown group_id' });
  });
});
