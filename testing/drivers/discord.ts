// Discord for createTestBot: the real adapter holds a gateway session with FakeDiscord and sends over its REST API.

import { atBot, directMessage, FakeDiscord, guildMessage, token } from '../fakes/discord.js';
import { editsByMessage, type Driver, type Reply, type UserMessage } from '../driver.js';

const defaultUser = { id: '200000000000000001', name: 'alice' };
const guild = { guild: '400000000000000001', channel: '300000000000000001' };
const dmChannel = '500000000000000001';

interface Component {
  type: number;
  label?: string;
  custom_id?: string;
  url?: string;
  components?: Component[];
}

export function discordDriver(): Driver {
  const fake = new FakeDiscord();
  return {
    async start() {
      await fake.start();
      return `id: test, type: discord, token: "${token}", apiRoot: "${fake.url}", identifyInterval: 0ms, shardCount: 1`;
    },
    async inject(input: UserMessage) {
      const user = input.user ?? defaultUser;
      const author = { id: user.id, username: user.name ?? user.id };
      const inGroup = input.chat === 'group';
      const channel = inGroup ? guild.channel : dmChannel;
      if (input.click !== undefined) {
        const id = fake.snowflake();
        const member = { user: { ...author, discriminator: '0', global_name: null, avatar: null }, roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0, permissions: '0' };
        const last = [...fake.sent].reverse().find((s) => s.channelId === channel);
        fake.gateway.push('INTERACTION_CREATE', {
          id,
          application_id: fake.applicationId,
          type: 3,
          token: `interaction-token-${id}`,
          version: 1,
          channel_id: channel,
          ...(inGroup ? { guild_id: guild.guild, channel: { id: channel, type: 0 }, member } : { channel: { id: channel, type: 1 }, user: member.user }),
          message: { id: last?.id ?? fake.snowflake(), channel_id: channel },
          data: { custom_id: input.click, component_type: 2 },
          app_permissions: '0',
          locale: 'en-US',
          entitlements: [],
          authorizing_integration_owners: {},
          attachment_size_limit: 1,
        });
        return { is: (m) => m.id === `click:${id}`, chat: channel };
      }
      const attachments = input.image ? [attachment(fake, input.image)] : [];
      const text = input.text ?? '';
      const d = inGroup
        ? guildMessage(fake, input.mention ? atBot(fake, text) : text, { ...guild, author, attachments, mentions: input.mention ? [{ ...fake.botUser, discriminator: '0', bot: true }] : [] })
        : directMessage(fake, text, { channel, author, attachments });
      fake.gateway.push('MESSAGE_CREATE', d);
      return { is: (m) => m.id === d.id, chat: channel };
    },
    replies: () => {
      const edits = editsByMessage(fake.edits, (e) => (e.status === 200 ? e.messageId : undefined));
      return fake.sent.map((s): Reply => {
        // A PATCH replaces the fields it gives: the message shows the last content, components and files given.
        let shown = { body: s.body, files: s.files };
        for (const edit of edits.get(s.id) ?? []) shown = { body: { ...shown.body, ...edit.body }, files: edit.body.attachments !== undefined || edit.files.length > 0 ? edit.files : shown.files };
        const last = edits.get(s.id)?.at(-1);
        return {
          chat: s.channelId,
          text: typeof shown.body.content === 'string' ? shown.body.content : '',
          buttons: ((shown.body.components ?? []) as Component[]).map((row) => (row.components ?? []).map((b) => ({ label: b.label ?? '', ...(b.custom_id !== undefined && { value: b.custom_id }), ...(b.url !== undefined && { url: b.url }) }))),
          files: shown.files.map((f) => ({ name: f.name, mime: f.type, data: new Uint8Array(f.data) })),
          method: last ? `PATCH /channels/${s.channelId}/messages/${s.id}` : `POST /channels/${s.channelId}/messages`,
          payload: last?.body ?? s.body,
        };
      });
    },
    stop: () => fake.stop(),
  };
}

function attachment(fake: FakeDiscord, data: Uint8Array) {
  const id = fake.snowflake();
  const url = fake.hostFile('image.png', Buffer.from(data), 'image/png');
  return { id, filename: 'image.png', size: data.length, url, proxy_url: url, content_type: 'image/png', width: 1, height: 1 };
}
