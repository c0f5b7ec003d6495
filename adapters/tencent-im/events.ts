// Which callback commands mean what: messages for the bot, Before* checks a bot may intercept,
// and the platform events (group, relationship, online state…) handed to bot.on('event').

import { randomUUID } from 'node:crypto';
import type { PlatformEvent } from '../../src/bot/events.js';
import type { Author, Channel } from '../../src/message.js';

export const messageCommands = new Set(['C2C.CallbackAfterSendMsg', 'Group.CallbackAfterSendMsg']);

/** Namespaces of Tencent's callback command list; anything else is answered OK and logged. */
const eventNamespaces = new Set(['State', 'Profile', 'Sns', 'C2C', 'Group', 'Bot', 'OfficialAccount']);

export type CommandKind = 'message' | 'before' | 'event' | 'unknown';

export function kindOf(command: string): CommandKind {
  if (messageCommands.has(command)) return 'message';
  const match = /^([A-Za-z0-9]+)\.([A-Za-z0-9]+)$/.exec(command);
  if (!match || !eventNamespaces.has(match[1]!)) return 'unknown';
  // Before* and Prev* (Sns.CallbackPrevFriendAdd) callbacks wait for our answer; the rest are after the fact.
  return /^Callback(Before|Prev)[A-Z]/.test(match[2]!) ? 'before' : 'event';
}

interface EventBody {
  GroupId?: unknown;
  From_Account?: unknown;
  Operator_Account?: unknown;
  Requestor_Account?: unknown;
  Requester_Account?: unknown;
  Info?: { To_Account?: unknown };
  EventTime?: unknown;
}

/** Who did it: the sender, operator or requester, whichever field this command carries. */
export function actorOf(body: object): string | undefined {
  const b = body as EventBody;
  return [b.From_Account, b.Operator_Account, b.Requestor_Account, b.Requester_Account, b.Info?.To_Account].find((a): a is string => typeof a === 'string' && a !== '');
}

export function platformEvent(command: string, body: Record<string, unknown>, botId: string): PlatformEvent {
  const b = body as EventBody;
  const groupId = typeof b.GroupId === 'string' && b.GroupId ? b.GroupId : undefined;
  const actor = actorOf(body);
  const channel: Channel | undefined = groupId ? { id: `group:${groupId}`, type: 'group' } : actor ? { id: `user:${actor}`, type: 'direct' } : undefined;
  const author: Author | undefined = actor ? { id: actor, isBot: false } : undefined;
  const time = Number(b.EventTime);
  return {
    id: randomUUID(),
    platform: 'tencent-im',
    botId,
    type: command,
    ...(channel ? { channel } : {}),
    ...(author ? { author } : {}),
    data: body,
    timestamp: time > 0 ? time : Date.now(),
  };
}
