// Discord building blocks: the config schema's answers to bad input, and how segments become
// Discord messages (splitting, mentions that may ping, buttons, attachments per message).

import { describe, expect, it } from 'vitest';
import { plan, quotedId } from '../adapters/discord/render.js';
import { discordConfig } from '../adapters/discord/schema.js';
import type { Segment } from '../src/message.js';
import { token } from './fakes/discord.js';

const issues = (input: object) => {
  const result = discordConfig.safeParse({ id: 'dc', type: 'discord', ...input });
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('discord config', () => {
  it('fills in the defaults and accepts a "Bot " prefix and intents by name or mask', () => {
    const config = discordConfig.parse({ id: 'dc', type: 'discord', token: `Bot ${token}`, apiRoot: 'http://127.0.0.1:9100/api/' });
    expect(config).toMatchObject({ token, apiRoot: 'http://127.0.0.1:9100', intents: 1 | (1 << 9) | (1 << 12) | (1 << 15), stallTimeout: 120_000, readyTimeout: 30_000 });
    expect(discordConfig.parse({ id: 'dc', type: 'discord', token, intents: ['Guilds', 'GuildMessages'] }).intents).toBe(1 | (1 << 9));
    expect(discordConfig.parse({ id: 'dc', type: 'discord', token, intents: 513 }).intents).toBe(513);
  });

  it('says what is wrong, and how to fix it', () => {
    expect(issues({ token: 'not-a-token' })).toEqual(['token: expected the bot token from the Developer Portal (Bot > Reset Token): three dot-separated parts']);
    expect(issues({ token, intents: ['Guilds', 'MessageContents'] })[0]).toMatch(/^intents\.1: unknown intent "MessageContents"; expected one of: Guilds, .*MessageContent/);
    expect(issues({ token, proxy: 'ftp://127.0.0.1:21' })).toEqual(['proxy: expected a proxy URL: http://, https:// or socks5:// followed by [user:pass@]host:port']);
    expect(issues({ token, stallTimeout: 'soon' })[0]).toMatch(/^stallTimeout: expected a duration/);
    expect(issues({ token, extra: 1 })[0]).toMatch(/extra/);
  });
});

describe('discord render', () => {
  const text = (t: string): Segment => ({ type: 'text', text: t });

  it('splits long text at 2000 characters, never inside a mention', () => {
    const mention = '<@123456789012345678>';
    const long = `${'a'.repeat(1990)} ${mention} ${'b'.repeat(50)}`;
    const { messages } = plan([text(long)]);
    expect(messages.map((m) => m.content.length)).toEqual([1990, mention.length + 51]);
    expect(messages[1]!.content.startsWith(mention)).toBe(true);
  });

  it('lets only mention segments ping, never text that looks like a mention', () => {
    const { messages, allowedMentions } = plan([text('hi <@999> @everyone '), { type: 'mention', userId: '42' }, text(' and '), { type: 'mention', userId: '&7' }]);
    expect(messages[0]!.content).toBe('hi <@999> @everyone <@42> and <@&7>');
    expect(allowedMentions).toEqual({ parse: [], users: ['42'], roles: ['7'], replied_user: false });
    expect(plan([{ type: 'mention', all: true }]).allowedMentions.parse).toEqual(['everyone']);
  });

  it('puts buttons on the last message, five a row and five rows, and shows the rest as text', () => {
    const rows = Array.from({ length: 3 }, (_, r) => Array.from({ length: 7 }, (_, i) => ({ label: `b${r}${i}`, value: `v${r}${i}` })));
    const { messages } = plan([text('pick'), { type: 'buttons', rows }]);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.components).toHaveLength(5);
    expect(messages[0]!.components.map((r) => r.components.length)).toEqual([5, 2, 5, 2, 5]);
    expect(messages[0]!.content).toBe('pick\n1. b25 — send "v25"\n2. b26 — send "v26"');
  });

  it('shows a button whose value repeats another as text (Discord refuses duplicate custom_ids)', () => {
    const { messages } = plan([{ type: 'buttons', rows: [[{ label: 'Yes', value: 'y' }, { label: 'Sure', value: 'y' }], [{ label: 'No', value: 'n' }]] }]);
    expect(messages[0]!.components.map((r) => r.components.map((b) => ('custom_id' in b ? b.custom_id : 'url' in b ? b.url : '')))).toEqual([['y'], ['n']]);
    expect(messages[0]!.content).toBe('1. Sure — send "y"');
  });

  it('attaches media to the text before it, ten files a message', () => {
    const image: Segment = { type: 'image', data: new Uint8Array([1]), mime: 'image/png' };
    const { messages } = plan([text('look'), ...Array.from({ length: 12 }, () => image)]);
    expect(messages.map((m) => [m.content, m.media.length])).toEqual([
      ['look', 10],
      ['', 2],
    ]);
  });

  it('quotes an explicit quote segment over the reply target, and only a snowflake', () => {
    expect(quotedId([{ type: 'quote', messageId: '11' }], '22')).toBe('11');
    expect(quotedId([], '22')).toBe('22');
    expect(quotedId([], 'dm:x')).toBeUndefined();
  });
});
