// QQ for createTestBot: FakeQQ posts signed webhook events (a group @-message, a direct message)
// to the real adapter, which answers through the fake's open API. QQ delivers a group message to
// a bot only when it @-mentions it, and lets bots send no buttons: they go out as numbered lines,
// and a click is the user sending the button's value.

import { c2c, FakeQQ, groupAt } from '../fakes/qq.js';
import { accepted, type Driver, type Reply, type UserMessage } from '../driver.js';

const defaultUser = { id: 'E4F4AEA33253A2797FB897C50B81D7ED', name: 'alice' };
const groupOpenid = 'C9F778FE6ADF9D1D1DBE395BF744A33A';
/** The send endpoint of each scene. */
const paths = { group: '/v2/groups', user: '/v2/users', channel: '/channels', dm: '/dms' } as const;

export function qqDriver(): Driver {
  const fake = new FakeQQ();
  let nextImage = 1;
  return {
    async start() {
      await fake.start();
      return `id: test, type: qq, appId: "${fake.appId}", appSecret: "${fake.appSecret}", mode: webhook, apiRoot: "${fake.url}", tokenUrl: "${fake.url}/app/getAppAccessToken"`;
    },
    async inject(input: UserMessage, webhookBase: string) {
      const user = input.user ?? defaultUser;
      const inGroup = input.chat === 'group';
      const chat = inGroup ? `group:${groupOpenid}` : `user:${user.id}`;
      // QQ does not tell a bot about a group message that does not @-mention it.
      if (inGroup && !input.mention && input.click === undefined) return { is: () => false, chat, settled: true };
      const said = input.click ?? input.text ?? '';
      const attachments = input.image ? [{ content_type: 'image/png', filename: `image-${nextImage}.png`, url: fake.addFile(`image-${nextImage++}.png`, Buffer.from(input.image), 'image/png'), width: 1, height: 1, size: input.image.length }] : undefined;
      const event = inGroup ? groupAt(said, { group: groupOpenid, member: user.id, ...(attachments && { attachments }) }) : c2c(said, { user: user.id, ...(attachments && { attachments }) });
      await accepted(fake.deliver(`${webhookBase}/webhooks/test`, event), 'QQ');
      return { is: (m) => m.id === event.d.id, chat };
    },
    replies: () =>
      fake.delivered().map(
        (s): Reply => ({
          chat: `${s.scene}:${s.target}`,
          text: typeof s.body.content === 'string' ? s.body.content : '',
          buttons: [],
          files: [],
          method: `POST ${paths[s.scene]}/${s.target}/messages`,
          payload: s.body,
        }),
      ),
    stop: () => fake.stop(),
  };
}
