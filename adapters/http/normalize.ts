import type { Message, Segment } from '../../src/message.js';
import type { HttpRequest } from './schema.js';

/** Direct chats are keyed by sender, group chats by chat_id. */
export function channelOf(body: HttpRequest): Message['channel'] {
  return body.chat_id ? { id: `group:${body.chat_id}`, type: 'group' } : { id: `user:${body.sender_id}`, type: 'direct' };
}

export function normalize(body: HttpRequest, msgId: string, botId: string): Message {
  const content: Segment[] = [];
  if (body.type === 'text') content.push({ type: 'text', text: body.query! });
  else content.push(imageSegment(body.url!));
  return {
    id: msgId,
    platform: 'http',
    botId,
    channel: channelOf(body),
    author: { id: body.sender_id, name: body.sender_nickname, isBot: false },
    content,
    text: body.type === 'text' ? body.query! : '',
    mentionsBot: !body.chat_id,
    timestamp: Date.now(),
    raw: body,
  };
}

/** A URL stays a URL (fetched only if a handler asks); a data URL becomes bytes. */
function imageSegment(url: string): Segment {
  const data = /^data:(image\/[a-z0-9.+-]+);base64,(.*)$/is.exec(url);
  if (!data) return { type: 'image', url };
  return { type: 'image', data: new Uint8Array(Buffer.from(data[2]!, 'base64')), mime: data[1]!.toLowerCase() };
}
