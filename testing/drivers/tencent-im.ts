// Tencent Cloud IM for createTestBot: FakeTencentIM posts signed message callbacks to the real
// adapter's webhook, which answers through the fake's REST API. IM has no buttons: the adapter
// lists them as numbered lines, and a click is the user sending the button's value.

import { c2c, FakeTencentIM, group, text as textElem } from '../fakes/tencent-im.js';
import { accepted, editsByMessage, type Driver, type Reply, type UserMessage } from '../driver.js';

const defaultUser = { id: 'alice', name: 'alice' };
const groupId = '@TGS#2TESTGROUP';

export function tencentImDriver(): Driver {
  const fake = new FakeTencentIM();
  let nextImage = 1;
  return {
    async start() {
      await fake.start();
      // Users' files are fetched from URLs in the message; the fake serves them on 127.0.0.1.
      return `id: test, type: tencent-im, sdkAppId: ${fake.sdkAppId}, secretKey: "${fake.secretKey}", adminIdentifier: ${fake.admin}, botAccount: ${fake.bot}, callbackToken: "${fake.callbackToken}", apiRoot: "${fake.url}", allowPrivateNetworks: true`;
    },
    async inject(input: UserMessage, webhookBase: string) {
      const user = input.user ?? defaultUser;
      const said = input.click ?? input.text ?? '';
      const elems: object[] = [];
      if (said) elems.push(textElem(input.mention ? `@${fake.bot} ${said}` : said));
      if (input.image) {
        const url = fake.addFile(`image-${nextImage++}.png`, Buffer.from(input.image), 'image/png');
        elems.push({ MsgType: 'TIMImageElem', MsgContent: { UUID: `image-${nextImage}`, ImageFormat: 3, ImageInfoArray: [{ Type: 1, Size: input.image.length, Width: 1, Height: 1, URL: url }] } });
      }
      const inGroup = input.chat === 'group';
      const body = inGroup ? group(groupId, user.id, elems, input.mention ? { GroupAtInfo: [{ GroupAtAllFlag: 0, GroupAt_Account: fake.bot }] } : {}) : c2c(user.id, fake.bot, elems);
      await accepted(fake.callback(`${webhookBase}/webhooks/test`, inGroup ? 'Group.CallbackAfterSendMsg' : 'C2C.CallbackAfterSendMsg', body), 'Tencent IM');
      // The callback is answered once the message is recorded, or at once when it is not for the bot.
      return { is: (m) => (m.raw as { MsgSeq?: unknown }).MsgSeq === body.MsgSeq, chat: inGroup ? `group:${groupId}` : `user:${user.id}`, settled: true };
    },
    replies: () => {
      // A message modified as it grew (modify_c2c_msg, modify_group_msg replace its body) shows its last modification.
      const changes = editsByMessage(fake.modifications, (m) => m.id);
      return fake.delivered().map((s): Reply => {
        const change = changes.get(fake.idOf(s))?.at(-1);
        const body = change?.body ?? s.body;
        return {
          chat: s.kind === 'group' ? `group:${s.to}` : `user:${s.to}`,
          text: (body.MsgBody as { MsgType: string; MsgContent: { Text?: string } }[])
            .filter((e) => e.MsgType === 'TIMTextElem')
            .map((e) => e.MsgContent.Text ?? '')
            .join(''),
          buttons: [],
          files: [],
          method: change ? (s.kind === 'group' ? 'openim/modify_group_msg' : 'openim/modify_c2c_msg') : s.kind === 'group' ? 'group_open_http_svc/send_group_msg' : 'openim/sendmsg',
          payload: body,
        };
      });
    },
    stop: () => fake.stop(),
  };
}
