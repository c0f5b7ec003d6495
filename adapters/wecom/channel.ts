// A self-built app sends through two APIs: message/send to users, appchat/send to the group chats
// the app created. The channel id says which: `user:<userid>` or `chat:<chatid>`. (A robot's
// channel id is the ChatId WeCom gave, as is.)

export type AppTarget = { kind: 'user'; userId: string } | { kind: 'chat'; chatId: string };

export const userChannel = (userId: string): string => `user:${userId}`;

export function appTargetOf(channelId: string): AppTarget | undefined {
  const match = /^(user|chat):([^\s|]{1,256})$/.exec(channelId);
  if (!match) return undefined;
  return match[1] === 'user' ? { kind: 'user', userId: match[2]! } : { kind: 'chat', chatId: match[2]! };
}
