// What WeCom lets a bot send, as WeCom documents it; the core paces sends to it.

import type { SendLimits } from '../../src/delivery/pacer.js';

/**
 * A group robot: 20 messages a minute (https://developer.work.weixin.qq.com/document/path/91770,
 * 消息发送频率限制). Five may go at once, then one every 4 s: no 60 s holds more than 5 + 15.
 */
export const robotLimits: SendLimits = { bot: { count: 15, perMs: 60_000, burst: 5 } };

/**
 * A self-built app (https://developer.work.weixin.qq.com/document/path/90454, 访问频率限制):
 * - to one member, 30 a minute and 1000 an hour, and what is over is dropped without an error, so
 *   pacing is all that keeps those messages. The hourly rate with a burst of 13 keeps any minute
 *   within 13 + 60/3.65 < 30 and any hour within 13 + 986 < 1000.
 * - in an app chat, each member may receive 200 a minute.
 * Per-app daily quotas depend on the corp's size and are not paced.
 */
export const appLimits: SendLimits = { chat: { default: { count: 986, perMs: 3_600_000, burst: 13 }, group: { count: 200, perMs: 60_000 } } };
