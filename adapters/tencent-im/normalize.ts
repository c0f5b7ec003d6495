// Message callbacks (C2C.* / Group.*SendMsg) -> Message. MsgBody is a list of TIM elements;
// the ones a bot can act on become segments, the rest stay `unknown` with the element as raw.

import { plainText, type Channel, type Message, type Segment } from '../../src/message.js';
import { imageMime } from './media.js';

export interface TimElem {
  MsgType: string;
  MsgContent: Record<string, unknown>;
}

interface AtEntry {
  GroupAtAllFlag?: number;
  GroupAt_Account?: string;
}

/** The fields of a C2C or group message callback the adapter reads (Before* and After* alike). */
export interface MessageCallback {
  CallbackCommand?: string;
  From_Account?: string;
  To_Account?: string;
  GroupId?: string;
  MsgSeq?: number;
  MsgRandom?: number;
  Random?: number;
  MsgTime?: number;
  MsgKey?: string;
  SendMsgResult?: number;
  MsgBody?: unknown;
  GroupAtInfo?: unknown;
  AtUserList?: unknown;
  EventTime?: number | string;
}

export type Scene = { kind: 'user'; account: string } | { kind: 'group'; groupId: string };

/** Channel ids: `user:<UserID>` for one-to-one chats, `group:<GroupId>` for groups. */
export function channelIdOf(scene: Scene): string {
  return scene.kind === 'user' ? `user:${scene.account}` : `group:${scene.groupId}`;
}

export function sceneOf(channelId: string): Scene | undefined {
  const match = /^(user|group):(.+)$/.exec(channelId);
  if (!match) return undefined;
  return match[1] === 'user' ? { kind: 'user', account: match[2]! } : { kind: 'group', groupId: match[2]! };
}

export interface Incoming {
  /** Dedup key: MsgKey (C2C), else the message's coordinates. */
  key: string;
  scene: Scene;
  mentionsBot: boolean;
}

/** The message a bot should see, or undefined: not for the bot, sent by the bot, undelivered, or malformed. */
export function incoming(command: string, body: MessageCallback, bot: { account: string; groupMessages: 'mentions' | 'all' }): Incoming | undefined {
  const from = body.From_Account;
  if (typeof from !== 'string' || from === '' || from === bot.account || !Array.isArray(body.MsgBody)) return undefined;
  if (body.SendMsgResult !== undefined && body.SendMsgResult !== 0) return undefined; // refused upstream: nobody received it
  const random = body.MsgRandom ?? body.Random ?? '';
  if (command === 'C2C.CallbackAfterSendMsg') {
    if (body.To_Account !== bot.account) return undefined;
    return { key: body.MsgKey || `c2c:${from}:${body.MsgSeq ?? ''}:${random}`, scene: { kind: 'user', account: from }, mentionsBot: false };
  }
  if (command === 'Group.CallbackAfterSendMsg' && typeof body.GroupId === 'string' && body.GroupId !== '') {
    const mentionsBot = mentions(body).accounts.includes(bot.account);
    if (bot.groupMessages === 'mentions' && !mentionsBot) return undefined;
    return { key: `group:${body.GroupId}:${body.MsgSeq ?? ''}:${from}:${random}`, scene: { kind: 'group', groupId: body.GroupId }, mentionsBot };
  }
  return undefined;
}

export interface NormalizeContext {
  botId: string;
  botAccount: string;
  /** Registers a platform media URL and returns the Switchboard media URL for it. */
  mediaUrl(media: { url: string; mime?: string; name?: string }): string;
}

export interface Addressed {
  id: string;
  scene: Scene;
  mentionsBot: boolean;
  /** Drop the leading "@Bot" (a message for the bot); kept for a message being intercepted, whose text may be rewritten. */
  stripMention: boolean;
}

export function normalize(addressed: Addressed, body: MessageCallback, ctx: NormalizeContext): Message {
  const { id, scene, mentionsBot } = addressed;
  const content = segmentsOf(elements(body.MsgBody), ctx);
  if (addressed.stripMention && mentionsBot && mentions(body).accounts[0] === ctx.botAccount) stripLeadingMention(content);
  const channel: Channel = { id: channelIdOf(scene), type: scene.kind === 'user' ? 'direct' : 'group' };
  const seconds = Number(body.MsgTime);
  return {
    id,
    platform: 'tencent-im',
    botId: ctx.botId,
    channel,
    author: { id: body.From_Account ?? '', isBot: false },
    content,
    text: plainText(content),
    mentionsBot,
    timestamp: seconds > 0 ? seconds * 1000 : Number(body.EventTime) || Date.now(),
    raw: body,
  };
}

export function elements(body: unknown): TimElem[] {
  if (!Array.isArray(body)) return [];
  return body.filter((e): e is TimElem => typeof e === 'object' && e !== null && typeof (e as TimElem).MsgType === 'string' && typeof (e as TimElem).MsgContent === 'object' && (e as TimElem).MsgContent !== null);
}

/** GroupAtInfo (what REST and the SDKs send) or AtUserList: the accounts @-mentioned, and whether @all was. */
export function mentions(body: MessageCallback): { accounts: string[]; all: boolean } {
  const accounts: string[] = [];
  let all = false;
  for (const list of [body.GroupAtInfo, body.AtUserList]) {
    if (!Array.isArray(list)) continue;
    for (const entry of list as unknown[]) {
      const account = typeof entry === 'string' ? entry : (entry as AtEntry | null)?.GroupAt_Account;
      if ((entry as AtEntry | null)?.GroupAtAllFlag === 1 || account === '__kImSDK_MesssageAtALL__') all = true;
      else if (typeof account === 'string' && account) accounts.push(account);
    }
  }
  return { accounts, all };
}

function segmentsOf(elems: TimElem[], ctx: NormalizeContext): Segment[] {
  const out: Segment[] = [];
  for (const elem of elems) {
    const c = elem.MsgContent;
    switch (elem.MsgType) {
      case 'TIMTextElem':
        if (typeof c.Text === 'string' && c.Text) out.push({ type: 'text', text: c.Text });
        break;
      case 'TIMImageElem': {
        const url = largestImage(c.ImageInfoArray);
        if (!url) break;
        const mime = imageMime(Number(c.ImageFormat));
        out.push({ type: 'image', url: ctx.mediaUrl({ url, mime }), mime });
        break;
      }
      case 'TIMFileElem':
        out.push(media('file', c.Url, c.FileName, ctx) ?? { type: 'unknown', raw: elem });
        break;
      case 'TIMSoundElem':
        out.push(media('audio', c.Url, undefined, ctx) ?? { type: 'unknown', raw: elem });
        break;
      case 'TIMVideoFileElem':
        out.push(media('video', c.VideoUrl, undefined, ctx) ?? { type: 'unknown', raw: elem });
        break;
      case 'TIMLocationElem': {
        const lat = Number(c.Latitude);
        const lon = Number(c.Longitude);
        if (Number.isFinite(lat) && Number.isFinite(lon)) out.push({ type: 'link', url: `geo:${lat},${lon}`, text: typeof c.Desc === 'string' && c.Desc ? c.Desc : `${lat},${lon}` });
        break;
      }
      default:
        // Faces, custom elements and anything newer: kept whole, so a rewrite can send them back unchanged.
        out.push({ type: 'unknown', raw: elem });
    }
  }
  return out;
}

function media(type: 'file' | 'audio' | 'video', url: unknown, name: unknown, ctx: NormalizeContext): Segment | undefined {
  if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) return undefined;
  const fileName = typeof name === 'string' && name ? name : undefined;
  return { type, url: ctx.mediaUrl({ url, name: fileName }), ...(fileName ? { name: fileName } : {}) };
}

/** ImageInfoArray holds the original (Type 1), large (2) and thumbnail (3): take the biggest. */
function largestImage(infos: unknown): string | undefined {
  if (!Array.isArray(infos)) return undefined;
  let best: { url: string; score: number } | undefined;
  for (const info of infos as Record<string, unknown>[]) {
    const url = info?.URL ?? info?.Url;
    if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) continue;
    const score = (Number(info.Width) || 0) * (Number(info.Height) || 0) || Number(info.Size) || (info.Type === 1 ? 1 : 0);
    if (!best || score > best.score) best = { url, score };
  }
  return best?.url;
}

/** "@Bot /ping" -> "/ping": the @ that addressed the message is not part of what was said. */
function stripLeadingMention(content: Segment[]): void {
  const first = content[0];
  if (first?.type !== 'text' || !first.text.startsWith('@')) return;
  const rest = first.text.replace(/^@\S+\s*/, '');
  if (rest) content[0] = { type: 'text', text: rest };
  else content.shift();
}
