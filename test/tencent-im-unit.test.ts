// Tencent IM pieces on their own: the callback Sign against the docs' example, UserSigs the
// fake's real verifier accepts, command routing, and rendering limits.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import tlsSigApi from 'tls-sig-api-v2';
import { describe, expect, it, vi } from 'vitest';
import { RestApi, TimApiError } from '../adapters/tencent-im/api.js';
import { kindOf } from '../adapters/tencent-im/events.js';
import { imageSize } from '../adapters/tencent-im/media.js';
import { mentions } from '../adapters/tencent-im/normalize.js';
import { render, textLimit } from '../adapters/tencent-im/render.js';
import { tencentImConfig } from '../adapters/tencent-im/schema.js';
import { userSigs } from '../adapters/tencent-im/usersig.js';
import { callbackSign, checkCallback } from '../adapters/tencent-im/verify.js';
import { verifyUserSig } from './fakes/tencent-im.js';

const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000030000000208060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ee9c8a9b0000000049454e44ae426082', 'hex');

describe('tencent-im callback Sign', () => {
  it('reproduces the docs example: Token xxxxyyyy, RequestTime 1669872112', () => {
    expect(callbackSign('xxxxyyyy', '1669872112')).toBe('17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061');
  });

  it('accepts the docs example at its time, and refuses it a minute and a second later, altered, or unsigned', () => {
    const expect_ = { sdkAppId: 1400000001, token: 'xxxxyyyy', toleranceMs: 60_000 };
    const query = { sdkAppId: '1400000001', requestTime: '1669872112', sign: '17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061' };
    const at = 1669872112_000;
    expect(checkCallback(query, expect_, at + 30_000)).toEqual({ ok: true });
    expect(checkCallback(query, expect_, at + 61_000)).toMatchObject({ ok: false, status: 401, reason: expect.stringMatching(/too far from now/) });
    expect(checkCallback({ ...query, sign: query.sign.replace('1777', '1778') }, expect_, at)).toMatchObject({ ok: false, status: 401, reason: 'wrong Sign' });
    expect(checkCallback({ ...query, requestTime: '1669872113' }, expect_, at)).toMatchObject({ ok: false, status: 401 });
    expect(checkCallback({ ...query, sign: undefined }, expect_, at)).toMatchObject({ ok: false, status: 401 });
    expect(checkCallback({ ...query, sdkAppId: '1400000002' }, expect_, at)).toMatchObject({ ok: false, status: 403 });
    // Signed but for no app: a probe, answered and never handled.
    expect(checkCallback({ ...query, sdkAppId: undefined }, expect_, at)).toEqual({ ok: true, probe: true });
  });

  it('without a token checks the SdkAppid alone, and requires it', () => {
    const noToken = { sdkAppId: 1400000001, token: undefined, toleranceMs: 60_000 };
    expect(checkCallback({ sdkAppId: '1400000001', requestTime: undefined, sign: undefined }, noToken)).toEqual({ ok: true });
    expect(checkCallback({ sdkAppId: undefined, requestTime: undefined, sign: undefined }, noToken)).toMatchObject({ ok: false, status: 403 });
  });
});

describe('tencent-im UserSig', () => {
  const app = { sdkAppId: 1400000001, secretKey: '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e', identifier: 'administrator' };

  it('makes a UserSig the fake verifies by inflate + HMAC, and one made with another key fails', async () => {
    const sig = await userSigs(app).get();
    expect(verifyUserSig(sig, { sdkAppId: app.sdkAppId, key: app.secretKey, identifier: 'administrator' })).toMatchObject({ ok: true });
    expect(verifyUserSig(sig, { sdkAppId: app.sdkAppId, key: 'another-key-another-key', identifier: 'administrator' })).toMatchObject({ ok: false, code: 70009 });
    expect(verifyUserSig(sig, { sdkAppId: app.sdkAppId, key: app.secretKey, identifier: 'bot' })).toMatchObject({ ok: false, code: 70013 });
  });

  it('reuses a UserSig until shortly before it expires, and regenerates it once invalidated', async () => {
    const generated = vi.spyOn(tlsSigApi.Api.prototype, 'genUserSig');
    try {
      let now = Date.now();
      const sigs = userSigs({ ...app, ttlMs: 100_000, now: () => now });
      const first = await sigs.get();
      now += 74_000; // a quarter of the lifetime before expiry is when a new one is made
      expect(await sigs.get()).toBe(first);
      expect(generated).toHaveBeenCalledTimes(1);
      expect(generated).toHaveBeenLastCalledWith('administrator', 100);
      now += 2_000;
      await sigs.get();
      expect(generated).toHaveBeenCalledTimes(2);
      sigs.invalidate(await sigs.get());
      expect(generated).toHaveBeenCalledTimes(2);
      expect(verifyUserSig(await sigs.get(), { sdkAppId: app.sdkAppId, key: app.secretKey, identifier: 'administrator' })).toMatchObject({ ok: true });
      expect(generated).toHaveBeenCalledTimes(3);
    } finally {
      generated.mockRestore();
    }
  });

  it('a UserSig past its expiry is refused with 70001', async () => {
    const sig = await userSigs({ ...app, ttlMs: 5_000 }).get();
    expect(verifyUserSig(sig, { sdkAppId: app.sdkAppId, key: app.secretKey, identifier: 'administrator' }, Math.floor(Date.now() / 1000) + 10)).toMatchObject({ ok: false, code: 70001 });
  });
});

describe('tencent-im commands and rendering', () => {
  it('routes commands: messages, Before*/Prev* checks, known events, unknown', () => {
    expect(['C2C.CallbackAfterSendMsg', 'Group.CallbackAfterSendMsg'].map(kindOf)).toEqual(['message', 'message']);
    expect(['C2C.CallbackBeforeSendMsg', 'Group.CallbackBeforeSendMsg', 'Group.CallbackBeforeCreateGroup', 'Sns.CallbackPrevFriendAdd'].map(kindOf)).toEqual(['before', 'before', 'before', 'before']);
    expect(['Group.CallbackAfterNewMemberJoin', 'State.StateChange', 'Sns.CallbackFriendAdd', 'C2C.CallbackAfterMsgWithDraw'].map(kindOf)).toEqual(['event', 'event', 'event', 'event']);
    expect(['Foo.Bar', 'nonsense', '', 'Group.Callback/../x'].map(kindOf)).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
  });

  it('reads @-mentions from GroupAtInfo and AtUserList, @all apart', () => {
    expect(mentions({ GroupAtInfo: [{ GroupAtAllFlag: 0, GroupAt_Account: 'bot' }, { GroupAtAllFlag: 1 }] })).toEqual({ accounts: ['bot'], all: true });
    expect(mentions({ AtUserList: ['alice', '__kImSDK_MesssageAtALL__'] })).toEqual({ accounts: ['alice'], all: true });
  });

  it('splits long text into messages under the size limit, and shows buttons as numbered text', () => {
    const long = '字'.repeat(textLimit * 2 + 10);
    const out = render([{ type: 'text', text: long }], () => 'x');
    // 3000 three-byte characters fill most of a 12 KB message; the 10 left ride along with the second.
    expect(out.map((m) => m.body.map((e) => (e.MsgContent.Text as string).length))).toEqual([[textLimit], [textLimit, 10]]);
    for (const m of out) expect(Buffer.byteLength(JSON.stringify(m.body))).toBeLessThan(12 * 1024);
    const buttons = render([{ type: 'text', text: 'Pick' }, { type: 'buttons', rows: [[{ label: 'Yes', value: 'yes' }]] }], () => 'x');
    expect(buttons).toEqual([{ body: [{ MsgType: 'TIMTextElem', MsgContent: { Text: 'Pick\n1. Yes — send "yes"' } }], at: [] }]);
  });

  it('describes an image by its URL, format and size, and other media as a file', () => {
    expect(imageSize(png)).toEqual({ width: 3, height: 2 });
    const [message] = render([{ type: 'image', data: png, mime: 'image/png' }, { type: 'audio', url: 'https://x/a.mp3', mime: 'audio/mpeg' }], (m) => m.url ?? 'https://media/1');
    expect(message!.body[0]).toMatchObject({ MsgType: 'TIMImageElem', MsgContent: { ImageFormat: 3, ImageInfoArray: [{ Type: 1, Size: png.length, Width: 3, Height: 2, URL: 'https://media/1' }, { Type: 2 }, { Type: 3 }] } });
    expect(message!.body[1]).toMatchObject({ MsgType: 'TIMFileElem', MsgContent: { Url: 'https://x/a.mp3', FileName: 'audio.mpeg', Download_Flag: 2 } });
  });
});

describe('tencent-im config', () => {
  const base = { id: 'tim', type: 'tencent-im', sdkAppId: 1400000001, secretKey: '5bd2850fff3ecb11d7c805251c51ee46', botAccount: 'bot' };

  it('refuses an interceptTimeout Tencent would not wait for (its Before* callbacks time out after 2 s)', () => {
    expect(tencentImConfig.parse({ ...base, interceptTimeout: '1900ms' }).interceptTimeout).toBe(1900);
    const result = tencentImConfig.safeParse({ ...base, interceptTimeout: '5s' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/Tencent waits 2 s/);
  });

  it('fetches users\' files from private networks only when told to', () => {
    expect(tencentImConfig.parse(base).allowPrivateNetworks).toBe(false);
  });
});

describe('tencent-im REST client', () => {
  const app = { sdkAppId: 1400000001, secretKey: '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e', identifier: 'administrator' };

  it('calls once: a refused connection is retryable (nothing was sent), one dropped after the request left is not (Tencent takes no idempotency key)', async () => {
    const server = createServer((req) => req.socket.destroy()); // reads the request, then hangs up
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const api = new RestApi({ apiRoot: `http://127.0.0.1:${port}`, sdkAppId: app.sdkAppId, identifier: app.identifier, userSigs: userSigs(app) });
    let requests = 0;
    server.on('request', () => requests++);
    try {
      const dropped = await api.call('openim/sendmsg', { MsgBody: [] }).catch((e: unknown) => e);
      expect(dropped).toBeInstanceOf(TimApiError);
      expect((dropped as TimApiError).failure).toEqual({ kind: 'fatal' });
      expect(requests).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    const refused = await api.call('openim/sendmsg', { MsgBody: [] }).catch((e: unknown) => e);
    expect((refused as TimApiError).failure).toEqual({ kind: 'retryable' });
  });

  it('reports an unreachable host with the path and the cause, never the URL (it carries the UserSig)', async () => {
    const api = new RestApi({ apiRoot: 'http://127.0.0.1:9', sdkAppId: app.sdkAppId, identifier: app.identifier, userSigs: userSigs(app) });
    await expect(api.call('openim/sendmsg', {})).rejects.toThrow(/^IM REST openim\/sendmsg failed: connect ECONNREFUSED 127\.0\.0\.1:9$/);
  });
});
