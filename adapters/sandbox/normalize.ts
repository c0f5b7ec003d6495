import type { MediaStore } from '../../src/media/media.js';
import { plainText, type Message, type Segment } from '../../src/message.js';
import type { SandboxPost } from './schema.js';

/** A browser post -> Message. Uploaded bytes are kept in the media store and referenced by URL. */
export function normalize(post: SandboxPost, id: string, botId: string, self: { id: string; name: string }, media: MediaStore): Message {
  const content: Segment[] = [];
  if (post.replyTo) content.push({ type: 'quote', messageId: post.replyTo });
  let mentionsBot = post.chat.type === 'direct';
  if (post.text) {
    const mention = `@${self.name}`;
    const at = post.text.toLowerCase().indexOf(mention.toLowerCase());
    if (at >= 0) {
      mentionsBot = true;
      const before = post.text.slice(0, at);
      const after = post.text.slice(at + mention.length).replace(/^\s+/, '');
      if (before) content.push({ type: 'text', text: before });
      content.push({ type: 'mention', userId: self.id, name: self.name });
      if (after) content.push({ type: 'text', text: after });
    } else {
      content.push({ type: 'text', text: post.text });
    }
  }
  for (const file of post.attachments ?? []) {
    const data = Buffer.from(file.data, 'base64');
    const url = media.register({ data, mime: file.mime, name: file.name });
    content.push({ type: file.kind, url, mime: file.mime, name: file.name });
  }
  return {
    id,
    platform: 'sandbox',
    botId,
    channel: { id: post.chat.id, type: post.chat.type, name: post.chat.name },
    author: { id: post.user.id, name: post.user.name, isBot: false },
    content,
    // Commands and echo work on what the user typed after an @mention of the bot.
    text: plainText(content.filter((s) => s.type !== 'mention' || s.userId !== self.id)).trim(),
    replyTo: post.replyTo,
    mentionsBot,
    timestamp: Date.now(),
    // The bytes live in the media store; raw keeps everything else the browser sent.
    raw: { ...post, attachments: post.attachments?.map(({ data, ...file }) => ({ ...file, size: Math.floor((data.length * 3) / 4) })) },
  };
}
