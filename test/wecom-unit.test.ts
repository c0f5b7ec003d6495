// WeCom's callback crypto against WeCom's published WXBizMsgCrypt sample vector, round trips with
// the fake's independent implementation, the byte-aware text splitting, and the send limits the
// adapter declares, run through the core's pacer on a fake clock.

import { createCipheriv } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Pacer, type SendLimits } from '../src/delivery/pacer.js';
import { MemoryStore } from '../src/store/index.js';
import { parseConfig } from '../src/runtime/config.js';
import { definitions } from '../src/runtime/registry.js';
import { normalizeRobot } from '../adapters/wecom/normalize.js';
import { appLimits, robotLimits } from '../adapters/wecom/limits.js';
import { plan, splitBytes } from '../adapters/wecom/render.js';
import { RobotChats } from '../adapters/wecom/robot.js';
import { callbackKeys, CiphertextError, decrypt, encrypt, signature, signatureMatches } from '../adapters/wecom/verify.js';
import { envelopeEncrypt, parseXml, xmlBounds } from '../adapters/wecom/xml.js';
import { wxEncrypt, wxSign } from './fakes/wecom.js';

// WeCom's sample (WXBizMsgCrypt samples for every language): token, EncodingAESKey and corp id.
const sample = { token: 'QDG6eK', encodingAESKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C', corpId: 'wx5823bf96d3bd56c7' };
const keys = callbackKeys(sample.token, sample.encodingAESKey);

describe('wecom crypto: WeCom\'s published sample', () => {
  it('verifies the sample URL check and decrypts its echostr', () => {
    const echostr = 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==';
    expect(signature(sample.token, '1409659589', '263014780', echostr)).toBe('5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3');
    expect(signatureMatches(keys, '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3', '1409659589', '263014780', echostr)).toBe(true);
    const opened = decrypt(keys, echostr);
    expect(opened.message.toString()).toBe('1616140317555161061');
    expect(opened.receiveId).toBe(sample.corpId);
  });

  it('verifies and decrypts the sample message', () => {
    const encrypted =
      'RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==';
    expect(signatureMatches(keys, '477715d11cdb4164915debcba66cb864d751f3e6', '1409659813', '1372623149', encrypted)).toBe(true);
    expect(signatureMatches(keys, '477715d11cdb4164915debcba66cb864d751f3e6', '1409659814', '1372623149', encrypted)).toBe(false);
    const opened = decrypt(keys, encrypted);
    expect(opened.receiveId).toBe(sample.corpId);
    expect(opened.message.toString()).toContain('<Content><![CDATA[hello]]></Content>');
    expect(opened.message.toString()).toContain('<MsgId>4561255354251345929</MsgId>');
  });

  it('encrypts the sample reply with a given random prefix into what WeCom\'s library decrypts (the fake\'s independent code)', () => {
    const reply = '<xml><Content><![CDATA[测试一下中文的情况，消息长度是按字节来算的]]></Content></xml>';
    const sealed = encrypt(keys, reply, sample.corpId, Buffer.alloc(16, 7));
    expect(Buffer.from(sealed, 'base64').length % 32).toBe(0);
    expect(decrypt(keys, sealed)).toEqual({ message: Buffer.from(reply), receiveId: sample.corpId });
    expect(wxSign('t', '1', '2', 'x')).toBe(signature('t', '1', '2', 'x'));
  });
});

describe('wecom crypto: round trips and refusals', () => {
  it('opens what the fake seals, for every length around the 32-byte block and an empty receive id', () => {
    for (let n = 0; n < 70; n++) {
      const text = 'é'.repeat(n);
      for (const receiveId of ['', sample.corpId]) expect(decrypt(keys, wxEncrypt(sample.encodingAESKey, text, receiveId))).toEqual({ message: Buffer.from(text), receiveId });
    }
  });

  it('refuses ciphertext that is not base64, not whole blocks, or decrypts to nonsense, with CiphertextError', () => {
    const other = callbackKeys(sample.token, 'A'.repeat(43));
    const sealed = wxEncrypt(sample.encodingAESKey, 'hello', sample.corpId);
    expect(() => decrypt(keys, 'not base64 at all!')).toThrow(CiphertextError);
    expect(() => decrypt(keys, Buffer.alloc(24).toString('base64'))).toThrow(CiphertextError);
    let failures = 0;
    for (let i = 0; i < 20; i++) {
      try {
        const opened = decrypt(other, wxEncrypt(sample.encodingAESKey, `hello ${i}`, sample.corpId));
        if (opened.receiveId !== sample.corpId) failures++;
      } catch (error) {
        expect(error).toBeInstanceOf(CiphertextError);
        failures++;
      }
    }
    expect(failures).toBe(20);
    expect(decrypt(keys, sealed).message.toString()).toBe('hello');
  });

  it('refuses a plaintext whose padding is not PKCS#7 (every pad byte equal to the count, 1 to 32) or whose length field runs past the message', () => {
    const seal = (plain: Buffer) => {
      const cipher = createCipheriv('aes-256-cbc', keys.aesKey, keys.aesKey.subarray(0, 16)).setAutoPadding(false);
      return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
    };
    const body = (length: number, message: string) => Buffer.concat([Buffer.alloc(16, 9), Buffer.from([0, 0, 0, length]), Buffer.from(message)]);
    const head = body(5, 'hello'); // 25 bytes: 7 of padding to 32
    expect(decrypt(keys, seal(Buffer.concat([head, Buffer.alloc(7, 7)])))).toEqual({ message: Buffer.from('hello'), receiveId: '' });
    expect(() => decrypt(keys, seal(Buffer.concat([head, Buffer.from([0, 0, 0, 0, 0, 0, 7])])))).toThrow(CiphertextError);
    expect(() => decrypt(keys, seal(Buffer.concat([head, Buffer.from([7, 7, 7, 1, 7, 7, 7])])))).toThrow(CiphertextError);
    expect(() => decrypt(keys, seal(Buffer.concat([head, Buffer.alloc(7, 0)])))).toThrow(CiphertextError);
    expect(() => decrypt(keys, seal(Buffer.concat([head, Buffer.alloc(32 + 7, 39)])))).toThrow(CiphertextError);
    expect(() => decrypt(keys, seal(Buffer.concat([body(6, 'hello'), Buffer.alloc(7, 7)])))).toThrow(/length field/);
  });

  it('compares signatures whatever their case, and refuses one of the wrong length', () => {
    const sig = signature(sample.token, '1', '2', 'abc');
    expect(signatureMatches(keys, sig.toUpperCase(), '1', '2', 'abc')).toBe(true);
    expect(signatureMatches(keys, sig.slice(1), '1', '2', 'abc')).toBe(false);
  });
});

describe('wecom XML', () => {
  it('cuts the Encrypt value out of an envelope, CDATA or not, with an XML declaration or surrounding whitespace', () => {
    expect(envelopeEncrypt('<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[QUJD+/==]]></Encrypt><AgentID>1</AgentID></xml>')).toBe('QUJD+/==');
    expect(envelopeEncrypt('<?xml version="1.0" encoding="UTF-8"?>\n<xml>\n  <Encrypt>\n    QUJD\n  </Encrypt>\n</xml>\n')).toBe('QUJD');
  });

  it('finds no Encrypt in anything but an envelope with exactly one base64 value and no entity definitions', () => {
    for (const text of [
      '<Encrypt>QUJD</Encrypt>',
      '<root><Encrypt>QUJD</Encrypt></root>',
      '<xml><Encrypt>QUJD</Encrypt>',
      '<xml><Encrypt>QUJD</Encrypt><Encrypt>REVG</Encrypt></xml>',
      '<xml><Encrypt>QU JD</Encrypt></xml>',
      '<xml><Encrypt><![CDATA[QUJD]]><x/></Encrypt></xml>',
      '<xml><Encrypt></Encrypt></xml>',
      '<!DOCTYPE xml [<!ENTITY a "b">]><xml><Encrypt>QUJD</Encrypt></xml>',
      '<?xml version="1.0"<xml><Encrypt>QUJD</Encrypt></xml>',
    ])
      expect(envelopeEncrypt(text), text).toBeUndefined();
  });

  it('parses a message within the element and depth bounds, and refuses one past them before the parser sees it', () => {
    const items = (n: number) => `<xml><MsgType>mixed</MsgType><MixedMessage>${'<MsgItem><MsgType>text</MsgType><Text><Content><![CDATA[a<b>]]></Content></Text></MsgItem>'.repeat(n)}</MixedMessage></xml>`;
    expect((parseXml(items(10))?.MixedMessage as { MsgItem: unknown[] }).MsgItem).toHaveLength(10);
    expect(parseXml(items(Math.ceil(xmlBounds.maxElements / 4)))).toBeUndefined();
    const nested = (depth: number) => `<xml>${'<a>'.repeat(depth - 1)}x${'</a>'.repeat(depth - 1)}</xml>`;
    expect(parseXml(nested(xmlBounds.maxDepth))).toBeDefined();
    expect(parseXml(nested(xmlBounds.maxDepth + 1))).toBeUndefined();
    expect(parseXml('<xml><a>1</a><!-- <b> --><c/></xml>')).toEqual({ a: '1', c: '' });
    expect(parseXml('<xml><a>1</a><![CDATA[ unclosed')).toBeUndefined();
  });
});

describe('wecom robot reply URLs', () => {
  const chat = (chatId: string, webhookUrl = 'https://wecom-api.example/cgi-bin/webhook/send?key=k-1') => ({ chatId, webhookUrl, type: 'group' as const });

  it('keeps only apiRoot\'s own /cgi-bin/webhook/send with a key', () => {
    const chats = new RobotChats(10, 'https://wecom-api.example/', 'wecom');
    expect(chats.remember(chat('ok'))).toBe(true);
    for (const url of [
      'http://wecom-api.example/cgi-bin/webhook/send?key=k',
      'https://wecom-api.example:8443/cgi-bin/webhook/send?key=k',
      'https://wecom-api.example.evil.example/cgi-bin/webhook/send?key=k',
      'https://user:pw@wecom-api.example/cgi-bin/webhook/send?key=k',
      'https://wecom-api.example/x/cgi-bin/webhook/send?key=k',
      'https://wecom-api.example/cgi-bin/webhook/send',
      'http://169.254.169.254/cgi-bin/webhook/send?key=k',
      'not a url',
    ])
      expect([url, chats.remember(chat('bad', url))]).toEqual([url, false]);
    expect(chats.get('bad')).toBeUndefined();
  });

  it('remembers at most maxChats, forgetting the one heard from longest ago', () => {
    const chats = new RobotChats(2, 'https://wecom-api.example', 'wecom');
    chats.remember(chat('a'));
    chats.remember(chat('b'));
    chats.remember(chat('a')); // heard from again: now the newest
    chats.remember(chat('c'));
    expect(['a', 'b', 'c'].map((id) => chats.get(id) !== undefined)).toEqual([true, false, true]);
  });

  it('finds a chat kept by an earlier process in the store, per robot, and checks its URL again', async () => {
    const store = new MemoryStore();
    expect(await new RobotChats(10, 'https://wecom-api.example', 'wecom').keep(chat('a'), store)).toBe(true);
    expect(await new RobotChats(10, 'https://wecom-api.example', 'wecom').find('a', store)).toEqual(chat('a'));
    expect(await new RobotChats(10, 'https://wecom-api.example', 'other-robot').find('a', store)).toBeUndefined();
    // A URL planted in the store is no more trusted than one in a callback.
    await store.set('wecom:wecom:chat:planted', chat('planted', 'http://169.254.169.254/cgi-bin/webhook/send?key=k'));
    expect(await new RobotChats(10, 'https://wecom-api.example', 'wecom').find('planted', store)).toBeUndefined();
  });
});

describe('wecom robot normalize', () => {
  const ctx = { botId: 'w', mediaUrl: () => 'http://media' };
  const xml = (content: string) => ({ MsgId: 'm1', MsgType: 'text', Text: { Content: content }, From: { UserId: 'zhangsan' } });
  const webhookUrl = 'https://wecom-api.example/cgi-bin/webhook/send?key=k';

  it('strips the first @word of a group message as the robot\'s address, but keeps a single chat\'s text whole unless it names the robot', () => {
    expect(normalizeRobot(xml('@Robot B /ping'), { chatId: 'g', webhookUrl, type: 'group' }, undefined, ctx).text).toBe('B /ping');
    expect(normalizeRobot(xml('@all hands at 3'), { chatId: 's', webhookUrl, type: 'direct' }, undefined, ctx).text).toBe('@all hands at 3');
    expect(normalizeRobot(xml('@RobotA /ping'), { chatId: 's', webhookUrl, type: 'direct' }, 'RobotA', ctx).text).toBe('/ping');
  });
});

describe('wecom render', () => {
  it('splits long text within the UTF-8 byte limit, Chinese included, never inside a <@mention>', () => {
    const chinese = '企业微信'.repeat(400); // 4800 bytes
    const parts = splitBytes(chinese, 2048);
    expect(parts.join('')).toBe(chinese);
    expect(parts.every((p) => Buffer.byteLength(p) <= 2048)).toBe(true);
    const mentions = Array.from({ length: 300 }, (_, i) => `<@user${i}>`).join(' ');
    expect(splitBytes(mentions, 100).every((p) => /^(<@user\d+> ?)+$/.test(p.trim()))).toBe(true);
  });

  it('writes a robot\'s user mention as markdown <@userid>, @all in WeCom\'s mentioned_list, and an app\'s as @name', () => {
    expect(plan([{ type: 'text', text: 'hi ' }, { type: 'mention', userId: 'zhangsan', name: '张三' }], 'robot')).toEqual([{ kind: 'markdown', text: 'hi <@zhangsan>' }]);
    expect(plan([{ type: 'mention', all: true }, { type: 'text', text: ' lunch' }], 'robot')).toEqual([{ kind: 'text', text: '@all lunch', mentionAll: true }]);
    expect(plan([{ type: 'text', text: 'hi ' }, { type: 'mention', userId: 'zhangsan', name: '张三' }], 'app')).toEqual([{ kind: 'text', text: 'hi @张三', mentionAll: false }]);
  });
});

describe('wecom config', () => {
  const parse = (entry: string) => parseConfig(`platforms:\n  - { id: w, type: wecom, token: QDG6eK, encodingAESKey: ${sample.encodingAESKey}, ${entry} }`, { definitions, env: {}, source: 'w.yaml', baseDir: '/' });

  it('says which keys an app needs, and what a bad Token or EncodingAESKey should look like', () => {
    expect(() => parse('kind: app, corpId: ww1')).toThrow(/corpSecret.*required for kind: app[\s\S]*agentId.*required for kind: app/);
    expect(() => parseConfig('platforms:\n  - { id: w, type: wecom, kind: robot, token: "a b", encodingAESKey: short }', { definitions, env: {}, source: 'w.yaml', baseDir: '/' })).toThrow(
      /token[^\n]*3-32 letters or digits[\s\S]*encodingAESKey[^\n]*43-character/,
    );
  });

  it('gives a robot an empty receive id unless corpId is set, and an app its corp id', () => {
    expect(parse('kind: robot').platforms[0]).toMatchObject({ kind: 'robot', receiveId: '', replayWindow: 300_000 });
    expect(parse('kind: app, corpId: ww1, corpSecret: s3cret, agentId: 1000002, replayWindow: 30s').platforms[0]).toMatchObject({ kind: 'app', corpId: 'ww1', agentId: 1000002, replayWindow: 30_000 });
  });
});

describe('wecom limits, through the core\'s pacer', () => {
  afterEach(() => vi.useRealTimers());

  /** When each of `count` sends to one chat, all asked for at once, is let go (ms from the start, on a fake clock). */
  async function burst(limits: SendLimits, count: number, type?: 'direct' | 'group'): Promise<number[]> {
    vi.useFakeTimers();
    const start = Date.now();
    const pacer = new Pacer(() => limits);
    const times: number[] = [];
    const all = Array.from({ length: count }, () => pacer.take({ botId: 'wecom', channelId: 'c', ...(type ? { type } : {}) }).then(() => times.push(Date.now() - start)));
    await vi.advanceTimersByTimeAsync(2 * 3_600_000);
    await Promise.all(all);
    return times;
  }

  /** The most sends in any window of `ms` (a window opening at a send, as a sliding limit counts). */
  const most = (times: number[], ms: number) => Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + ms).length));

  it('keeps a robot\'s burst of 25 within WeCom\'s 20 a minute, the first five at once', async () => {
    const times = await burst(robotLimits, 25);
    expect(times.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(most(times, 60_000)).toBeLessThanOrEqual(20);
    expect(times[24]).toBeLessThan(90_000); // paced, not stalled
  });

  it('keeps an app\'s messages to one member within 30 a minute and 1000 an hour (WeCom drops what is over)', async () => {
    const times = await burst(appLimits, 1100, 'direct');
    expect(times.slice(0, 13).every((t) => t === 0)).toBe(true);
    expect(most(times, 60_000)).toBeLessThanOrEqual(30);
    expect(most(times, 3_600_000)).toBeLessThanOrEqual(1000);
  });

  it('keeps an app chat within 200 a minute per member', async () => {
    const times = await burst(appLimits, 450, 'group');
    expect(most(times, 60_000)).toBeLessThanOrEqual(200);
  });
});
