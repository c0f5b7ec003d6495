// A fake server for every platform Switchboard speaks to, and the config lines pointing one
// process at all of them: the all-platforms test and the bench's start-up rows share the set.

import { FakeDiscord, token as discordToken } from './fakes/discord.js';
import { FakeLark } from './fakes/lark.js';
import { FakeQQ } from './fakes/qq.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { FakeTencentIM } from './fakes/tencent-im.js';
import { FakeVK, type FakeCommunity } from './fakes/vk.js';
import { FakeWecom } from './fakes/wecom.js';

export const community: FakeCommunity = { groupId: 223344, token: `vk1.a.${'C3'.repeat(40)}`, confirmation: 'c0nf1rm9', secret: 'allPlatformsSecret3' };

export function everyFake() {
  return { telegram: new FakeTelegram(), discord: new FakeDiscord(), qq: new FakeQQ(), lark: new FakeLark(), wecom: new FakeWecom(), vk: new FakeVK([community]), tim: new FakeTencentIM() };
}

export type EveryFake = ReturnType<typeof everyFake>;

/** The `platforms:` entries for every fake (Telegram by long polling), plus the http API and the sandbox. */
export function everyPlatform(f: EveryFake, api: { apiKey: string; keyFile: string }): string[] {
  return [
    `  - { id: tg, type: telegram, token: "${f.telegram.token}", apiRoot: "${f.telegram.url}", mode: polling, pollTimeout: 1 }`,
    `  - { id: dc, type: discord, token: "${discordToken}", apiRoot: "${f.discord.url}" }`,
    `  - { id: qq, type: qq, appId: "${f.qq.appId}", appSecret: "${f.qq.appSecret}", mode: webhook, apiRoot: "${f.qq.url}", tokenUrl: "${f.qq.url}/app/getAppAccessToken" }`,
    `  - { id: lark, type: lark, domain: "${f.lark.url}", appId: "${f.lark.appId}", appSecret: "${f.lark.appSecret}", verificationToken: "${f.lark.verificationToken}", encryptKey: "${f.lark.encryptKey}", mode: webhook }`,
    `  - { id: wecom, type: wecom, kind: robot, token: "${f.wecom.token}", encodingAESKey: "${f.wecom.encodingAESKey}", apiRoot: "${f.wecom.url}", name: RobotA }`,
    `  - { id: vk, type: vk, apiRoot: "${f.vk.apiRoot}", communities: [{ groupId: ${community.groupId}, token: "${community.token}", confirmation: "${community.confirmation}", secret: "${community.secret}" }] }`,
    `  - { id: tim, type: tencent-im, sdkAppId: ${f.tim.sdkAppId}, secretKey: "${f.tim.secretKey}", adminIdentifier: ${f.tim.admin}, botAccount: ${f.tim.bot}, callbackToken: "${f.tim.callbackToken}", apiRoot: "${f.tim.url}" }`,
    `  - { id: api, type: http, apiKey: "${api.apiKey}", keyFile: "${api.keyFile}" }`,
    '  - { id: sandbox, type: sandbox }',
  ];
}
