// What the gateway bench pushes, per platform: a fake gateway started fresh for each run, the
// environment that points a system at it, and a firehose of dispatches serialized before the
// clock starts. Discord: MESSAGE_CREATE from many authors in many channels of one guild (after a
// GUILD_CREATE, so discord.js knows the channels). QQ: GROUP_AT_MESSAGE_CREATE and
// AT_MESSAGE_CREATE (a guild @-message) alternating, from many members of many groups and channels.

import { FakeDiscord, guildCreate, token } from '../testing/fakes/discord.js';
import { FakeQQ, groupAt, guildAt } from '../testing/fakes/qq.js';

/** A dispatch: its event name and its `d` as JSON text. */
export type Frame = readonly [t: string, d: string];

export interface FeedRun {
  env: Record<string, string>;
  connected(): boolean;
  /** What the gateway sends once the system is connected, before the warm-up. */
  prime(): void;
  firehose(frames: readonly Frame[]): void;
  stop(): Promise<void>;
}

export interface Feed {
  frames(count: number): Frame[];
  open(): Promise<FeedRun>;
}

const authors = 1000;
const channels = 100;
const guildId = '400000000000000001';
const channelId = (index: number) => String(300_000_000_000_000_000n + BigInt(index));
/** Discord's interval: a short one would have an ACK queued behind a second of firehose taken for a zombie connection. */
const heartbeatIntervalMs = 41_250;

/** Sends the frames back to back; consecutive frames of one event name go out in one call. */
function push(gateway: { firehose(t: string, payloads: readonly string[]): void }, frames: readonly Frame[]): void {
  let start = 0;
  for (let i = 1; i <= frames.length; i++) {
    if (i < frames.length && frames[i]![0] === frames[start]![0]) continue;
    gateway.firehose(frames[start]![0], frames.slice(start, i).map((f) => f[1]));
    start = i;
  }
}

export const discordFeed: Feed = {
  frames(count) {
    const ids = new FakeDiscord();
    const at = new Date().toISOString();
    return Array.from({ length: count }, (_, i): Frame => {
      const author = { id: String(200_000_000_000_000_000n + BigInt(i % authors)), username: `user${i % authors}`, discriminator: '0', global_name: null, avatar: null };
      const d = {
        id: ids.snowflake(),
        type: 0,
        channel_id: channelId(i % channels),
        guild_id: guildId,
        author,
        member: { roles: [], joined_at: at, deaf: false, mute: false, flags: 0 },
        content: `message ${i}: a line of chat as a busy server has thousands of`,
        timestamp: at,
        edited_timestamp: null,
        tts: false,
        mention_everyone: false,
        mentions: [],
        mention_roles: [],
        attachments: [],
        embeds: [],
        pinned: false,
        flags: 0,
      };
      return ['MESSAGE_CREATE', JSON.stringify(d)];
    });
  },
  async open() {
    const fake = await new FakeDiscord().start();
    fake.gateway.heartbeatIntervalMs = heartbeatIntervalMs;
    return {
      env: { DISCORD_URL: fake.url, DISCORD_TOKEN: token },
      connected: () => fake.gateway.connected,
      prime: () => fake.gateway.push('GUILD_CREATE', guildCreate({ id: guildId, channels: Array.from({ length: channels }, (_, i) => channelId(i)), memberCount: authors + 1 })),
      firehose: (frames) => push(fake.gateway, frames),
      stop: () => fake.stop(),
    };
  },
};

/** The fake's bot user: a guild @-message mentions it. */
const qqBot = new FakeQQ().botUser;

export const qqFeed: Feed = {
  frames(count) {
    return Array.from({ length: count }, (_, i): Frame => {
      const text = `message ${i}: a line of chat as a busy group has thousands of`;
      const event = i % 2 === 0 ? groupAt(text, { group: `GROUP${i % channels}`, member: `MEMBER${i % authors}` }) : guildAt(text, qqBot, { channel: String(100_000 + (i % channels)) });
      if (event.t === 'AT_MESSAGE_CREATE') event.d.author = { ...event.d.author, id: String(1_000_000 + (i % authors)), username: `user${i % authors}` };
      return [event.t, JSON.stringify(event.d)];
    });
  },
  async open() {
    const fake = await new FakeQQ().start();
    fake.gateway.heartbeatIntervalMs = heartbeatIntervalMs;
    return {
      env: { QQ_URL: fake.url, QQ_APP_ID: fake.appId, QQ_APP_SECRET: fake.appSecret },
      connected: () => fake.gateway.connected,
      prime: () => {},
      firehose: (frames) => push(fake.gateway, frames),
      stop: () => fake.stop(),
    };
  },
};
