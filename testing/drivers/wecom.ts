// WeCom for createTestBot: a self-built app. FakeWecom posts encrypted, signed XML callbacks to the
// real adapter, which answers with message/send. An app's chats with users are one to one; WeCom
// shows a bot's buttons as numbered lines, and a click is the user sending the button's value.

import { appImage, appText, FakeWecom } from '../fakes/wecom.js';
import { accepted, type Driver, type Reply, type UserMessage } from '../driver.js';

const defaultUser = { id: 'lisi', name: 'lisi' };

interface SentBody {
  touser?: string;
  chatid?: string;
  msgtype?: string;
  text?: { content?: string };
  markdown?: { content?: string };
}

export function wecomDriver(): Driver {
  const fake = new FakeWecom();
  let nextMessage = 1;
  return {
    async start() {
      await fake.start();
      return `id: test, type: wecom, kind: app, token: "${fake.token}", encodingAESKey: "${fake.encodingAESKey}", apiRoot: "${fake.url}", corpId: "${fake.corpId}", corpSecret: "${fake.corpSecret}", agentId: ${fake.agentId}`;
    },
    async inject(input: UserMessage, webhookBase: string) {
      if (input.chat === 'group') throw new Error('createTestBot: a WeCom app talks with users one to one; group chats are a group robot\'s (run startSwitchboard against FakeWecom with kind: robot)');
      const user = input.user ?? defaultUser;
      const msgId = `7300000000000${nextMessage++}`;
      const xml = input.image ? appImage(fake, fake.addMedia(Buffer.from(input.image), 'image/png', 'image.png'), { user: user.id, msgId }) : appText(fake, input.click ?? input.text ?? '', { user: user.id, msgId });
      await accepted(fake.deliver(`${webhookBase}/webhooks/test`, xml), 'WeCom');
      return { is: (m) => m.id === msgId, chat: `user:${user.id}`, settled: true };
    },
    replies: () =>
      fake.delivered().map((s): Reply => {
        const body = s.body as SentBody;
        return {
          chat: body.touser !== undefined ? `user:${body.touser}` : `chat:${body.chatid ?? ''}`,
          text: body.text?.content ?? body.markdown?.content ?? '',
          buttons: [],
          files: [],
          method: s.via,
          payload: s.body as Record<string, unknown>,
        };
      }),
    stop: () => fake.stop(),
  };
}
