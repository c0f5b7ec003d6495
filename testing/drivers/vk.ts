// VK for createTestBot: FakeVK posts Callback API events to the real adapter's webhook (after the
// adapter has registered and confirmed it), which answers with messages.send.

import { FakeVK, messageNew, type EditedMessage, type FakeCommunity, type SentMessage } from '../fakes/vk.js';
import { accepted, editsByMessage, type Driver, type Reply, type UserMessage } from '../driver.js';

const community: FakeCommunity = { groupId: 123456, token: `vk1.a.${'T3'.repeat(40)}`, confirmation: 'c0nf1rm5', secret: 'testSecret1' };
const defaultUser = { id: '1001', name: 'Alice' };
/** VK numbers group chats from 2e9. */
const groupPeer = 2_000_000_001;

interface KeyboardButton {
  action: { type: string; label?: string; payload?: string; link?: string };
}

export function vkDriver(): Driver {
  const fake = new FakeVK([community]);
  let nextPhoto = 1;
  /** A message as its chat shows it: one edited as it grew (messages.edit replaces text and keyboard) shows its last edit. */
  const reply = (s: SentMessage, edit?: EditedMessage): Reply => {
    const params = edit?.params ?? s.params;
    const keyboard = params.keyboard ? (JSON.parse(params.keyboard) as { buttons?: KeyboardButton[][] }) : undefined;
    return {
      chat: `${s.groupId}:${s.peerId}`,
      text: params.message ?? '',
      buttons: (keyboard?.buttons ?? []).map((row) => row.map(({ action }) => ({ label: action.label ?? '', ...(action.payload !== undefined && { value: String((JSON.parse(action.payload) as { value?: unknown }).value) }), ...(action.link !== undefined && { url: action.link }) }))),
      files: s.attachments.map((a) => ({ name: a.name, mime: a.mime, data: new Uint8Array(a.data) })),
      method: edit ? 'messages.edit' : 'messages.send',
      payload: { ...params },
    };
  };
  const replies = () => {
    const edits = editsByMessage(fake.edits, (e) => String(e.id));
    return fake.delivered().map((s) => reply(s, edits.get(String(s.id))?.at(-1)));
  };
  return {
    async start() {
      await fake.start();
      return `id: test, type: vk, apiRoot: "${fake.apiRoot}", communities: [{ groupId: ${community.groupId}, token: "${community.token}", confirmation: "${community.confirmation}", secret: "${community.secret}" }]`;
    },
    async inject(input: UserMessage, webhookBase: string) {
      const user = input.user ?? defaultUser;
      const fromId = Number(user.id);
      const peerId = input.chat === 'group' ? groupPeer : fromId;
      let text = input.text ?? '';
      if (input.mention) text = `[club${community.groupId}|@switchboard] ${text}`;
      const attachments: object[] = [];
      if (input.image) {
        const url = fake.addFile(`photo-${nextPhoto++}.png`, Buffer.from(input.image), 'image/png');
        attachments.push({ type: 'photo', photo: { id: nextPhoto, owner_id: fromId, access_key: 'k', sizes: [{ type: 'x', width: 1, height: 1, url }] } });
      }
      // A click on a text button of our inline keyboard says its label and carries the payload we gave it.
      const label = input.click === undefined ? undefined : (replies().flatMap((r) => r.buttons.flat()).findLast((b) => b.value === input.click)?.label ?? input.click);
      const event = messageNew(community, label ?? text, { fromId, peerId, attachments, ...(input.click !== undefined && { payload: JSON.stringify({ value: input.click }) }) });
      await accepted(fake.deliver(`${webhookBase}/webhooks/test`, event), 'VK');
      return { is: (m) => (m.raw as { event_id?: unknown }).event_id === event.event_id, chat: `${community.groupId}:${peerId}` };
    },
    replies,
    stop: () => fake.stop(),
  };
}
