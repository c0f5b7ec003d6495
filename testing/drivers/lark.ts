// Feishu/Lark for createTestBot: FakeLark posts events to the real adapter's webhook, which answers
// through the fake's open API (a reply to a message, a card for buttons).

import { cardActionEvent, FakeLark, mention, messageEvent, type PatchRequest, type SentMessage } from '../fakes/lark.js';
import { accepted, editsByMessage, type Driver, type Reply, type UserMessage } from '../driver.js';

const defaultUser = { id: 'ou_alice00000000000000000000000000a', name: 'Alice' };
const directChat = 'oc_p2p0000000000000000000000000001';
const groupChat = 'oc_group00000000000000000000000001';

interface CardElement {
  tag: string;
  text?: { content?: string };
  actions?: { text?: { content?: string }; value?: { value?: string }; url?: string }[];
}

export function larkDriver(): Driver {
  const fake = new FakeLark({ encryptKey: null });
  /** The chat of every message id seen: a reply names the message it answers, not the chat. */
  const chatOf = new Map<string, string>();
  let nextImage = 1;
  /** A message as its chat shows it: a card updated as it grew shows its last update's content. */
  const reply = (s: SentMessage, update?: PatchRequest): Reply => {
    const chat = s.kind === 'create' ? s.target : (chatOf.get(s.target) ?? s.target);
    chatOf.set(s.messageId, chat);
    const content = update?.content ?? s.content;
    const elements = (content.elements ?? []) as CardElement[];
    const text = s.msgType === 'text' ? String(content.text ?? '') : s.msgType === 'interactive' ? elements.map((e) => e.text?.content ?? '').join('') : '';
    const buttons = elements.filter((e) => e.tag === 'action').map((e) => (e.actions ?? []).map((a) => ({ label: a.text?.content ?? '', ...(a.value?.value !== undefined && { value: a.value.value }), ...(a.url !== undefined && { url: a.url }) })));
    const upload = s.msgType === 'image' ? fake.uploads.find((u) => u.kind === 'image' && u.key === content.image_key) : undefined;
    const sentWith = s.kind === 'create' ? 'POST /open-apis/im/v1/messages' : `POST /open-apis/im/v1/messages/${s.target}/reply`;
    return {
      chat,
      text,
      buttons,
      files: upload ? [{ name: upload.filename ?? 'image', mime: 'image', data: new Uint8Array(upload.bytes) }] : [],
      method: update ? `PATCH /open-apis/im/v1/messages/${s.messageId}` : sentWith,
      payload: update ? { content } : { msg_type: s.msgType, content, ...(s.uuid !== undefined && { uuid: s.uuid }) },
    };
  };
  const replies = () => {
    const updates = editsByMessage(fake.patches, (p) => (p.code === 0 && p.content ? p.messageId : undefined));
    return fake.sent.map((s) => reply(s, updates.get(s.messageId)?.at(-1)));
  };
  return {
    async start() {
      await fake.start();
      // The bot is a member of both chats, so ctx.send can reach one from the other.
      fake.chats.add(directChat).add(groupChat);
      return `id: test, type: lark, mode: webhook, domain: "${fake.url}", appId: "${fake.appId}", appSecret: "${fake.appSecret}", verificationToken: "${fake.verificationToken}"`;
    },
    async inject(input: UserMessage, webhookBase: string) {
      const user = input.user ?? defaultUser;
      const chat = input.chat === 'group' ? groupChat : directChat;
      const hook = `${webhookBase}/webhooks/test`;
      if (input.click !== undefined) {
        // On the bot's last message in that chat, as a user clicks the card just shown.
        const last = replies().findLastIndex((r) => r.chat === chat);
        const card = fake.sent[last];
        const event = cardActionEvent(fake, { value: input.click }, { chatId: chat, ...(card && { messageId: card.messageId }) });
        event.event.operator = { ...event.event.operator, open_id: user.id, union_id: '', user_id: '' };
        await accepted(fake.deliver(hook, event), 'Lark');
        return { is: (m) => m.id === event.event.context.open_message_id && m.text === input.click, chat };
      }
      const text = input.mention ? `@_user_1 ${input.text ?? ''}` : (input.text ?? '');
      const mentions = input.mention ? [mention('@_user_1', { open_id: fake.botOpenId }, 'Switchboard')] : undefined;
      const options = { chatType: input.chat === 'group' ? ('group' as const) : ('p2p' as const), chatId: chat, ...(mentions && { mentions }) };
      let event: ReturnType<typeof messageEvent>;
      if (input.image) {
        const key = `img_v3_test_${nextImage++}`;
        event = messageEvent(fake, 'image', { image_key: key }, options);
        fake.addResource(event.event.message.message_id, key, 'image', Buffer.from(input.image), 'image/png');
      } else event = messageEvent(fake, 'text', { text }, options);
      event.event.sender.sender_id = { open_id: user.id, union_id: '', user_id: '' };
      chatOf.set(event.event.message.message_id, chat);
      await accepted(fake.deliver(hook, event), 'Lark');
      return { is: (m) => m.id === event.event.message.message_id, chat };
    },
    replies,
    stop: () => fake.stop(),
  };
}
