// switchboard/testing: what a bot author tests a bot with (docs/testing.md).
//
// - createTestBot: a bot on the real core and a platform's real adapter, against that platform's
//   wire fake, in process; send as a user, get the replies as the platform received them.
// - The wire fakes: each platform's API on 127.0.0.1, for running the real Runtime (or the CLI)
//   end to end, offline. Each has start() (resolves once it listens; `url` is then its base URL),
//   stop(), the credentials to put in the config, delivered() (what the bot sent that the platform
//   took, in order), and a way to deliver a user's message the way the platform does.

export { createTestBot, type TestBot, type TestBotOptions, type TestPlatform } from './test-bot.js';
export type { Reply, UserMessage } from './driver.js';
export { startSwitchboard, type RunningSwitchboard, type StartOptions } from './run.js';

/**
 * Telegram Bot API. Config: `{ type: telegram, token: fake.token, apiRoot: fake.url }` (polling).
 * `pushMessage({ text, chat, from })` queues a user's message for the next getUpdates;
 * `pushUpdate(update)` any update (a callback_query: a button click); `delivered()` the send calls
 * that made a message, each with its `params` (sendMessage's `chat_id`, `text`, `reply_markup`…).
 */
export { FakeTelegram, type RecordedCall as TelegramCall } from './fakes/telegram-api.js';

/**
 * Discord REST API and gateway on one port. Config: `{ type: discord, token: discordToken, apiRoot:
 * fake.url, identifyInterval: 0ms }`. `gateway.connected` once the bot's session is up;
 * `gateway.push('MESSAGE_CREATE', discordGuildMessage(fake, text))` delivers a message;
 * `delivered()` the messages the bot posted (`channelId`, JSON `body`, `files`).
 */
export { FakeDiscord, token as discordToken, guildMessage as discordGuildMessage, directMessage as discordDirectMessage, atBot as discordAtBot, type SentMessage as DiscordSent } from './fakes/discord.js';

/**
 * QQ Bot API (token endpoint, REST, gateway and webhook signing). Config: `{ type: qq, appId:
 * fake.appId, secret: fake.appSecret, apiRoot: fake.url, tokenUrl: … }` as in its tests;
 * `deliver(webhookUrl, qqGroupAt(text))` posts a signed event.
 */
export { FakeQQ, groupAt as qqGroupAt, c2c as qqDirect, guildAt as qqGuildAt, guildDm as qqGuildDm, type SentMessage as QQSent } from './fakes/qq.js';

/**
 * Feishu/Lark open platform (tenant token, messages, resources, cards, the long connection).
 * `deliver(webhookUrl, larkTextEvent(fake, text))` posts an event (encrypted when the fake has an
 * encryptKey).
 */
export { FakeLark, textEvent as larkTextEvent, messageEvent as larkMessageEvent, cardActionEvent as larkCardAction, mention as larkMention, type SentMessage as LarkSent } from './fakes/lark.js';

/**
 * WeCom (企业微信): the app API and group robots. `deliver(url, wecomAppText(fake, text))` posts an
 * encrypted, signed callback.
 */
export { FakeWecom, appText as wecomAppText, appImage as wecomAppImage, robotText as wecomRobotText, type Sent as WecomSent } from './fakes/wecom.js';

/**
 * VK communities: API methods, upload servers, the Callback API. `new FakeVK([community])`;
 * `deliver(webhookUrl, vkMessage(community, text))` posts a callback as VK does.
 */
export { FakeVK, messageNew as vkMessage, callback as vkCallback, type FakeCommunity as VkCommunity, type SentMessage as VkSent } from './fakes/vk.js';

/**
 * Tencent Cloud IM REST API and its callbacks. `callback(webhookUrl, 'C2C.CallbackAfterSendMsg',
 * timC2c(user, fake.bot, [timText(text)]))` posts a signed callback.
 */
export { FakeTencentIM, text as timText, c2c as timC2c, group as timGroup, type SentMessage as TencentIMSent } from './fakes/tencent-im.js';

/** An operator's callback server (onMessage, onPreSend, onResult, onSent) that records what it is asked and answers as told. */
export { CallbackServer, type ReceivedCallback } from './fakes/callback-server.js';
