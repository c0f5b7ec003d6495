// ctx.state as a bot author uses it, through the real pipeline: a counter bot on the HTTP endpoint
// (its answer comes back in the response), per user, chat, platform entry and global; many
// messages at once; and two instances sharing one Redis counting as one.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineBot } from '../src/bot/bot.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { startRuntime } from './helpers.js';
import { dropPrefix, redisUrl, requireRedis, testPrefix } from './redis.js';

const KEY = 'state-key-0123456789';
const running: Runtime[] = [];
const prefixes: string[] = [];
beforeAll(() => requireRedis());
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});
afterAll(async () => {
  for (const prefix of prefixes) await dropPrefix(prefix);
});

const increment = (n: number | undefined) => (n ?? 0) + 1;

/** /count answers each scope's count after adding one to it; middleware leaves a note in ctx.locals for the handler. */
const counter = defineBot((b) => {
  b.use(async (ctx, next) => {
    ctx.locals.note = 'counted';
    await next();
  });
  b.command('count', async (ctx) => {
    const [user, chat, bot, global] = await Promise.all([ctx.state.user, ctx.state.chat, ctx.state.bot, ctx.state.global].map((scope) => scope.update<number>('count', increment)));
    return `user ${user} chat ${chat} bot ${bot} global ${global} ${String(ctx.locals.note)}`;
  });
  b.command('bot', async (ctx) => `bot ${await ctx.state.bot.update<number>('count', increment)}`);
});

/** A runtime serving the counter at /api/plug/<entry id> for each entry id. */
async function start(entries: string[], yaml = '') {
  const dir = await mkdtemp(join(tmpdir(), 'sb-state-'));
  const platforms = entries.map((id) => `  - { id: ${id}, type: http, endpoint: /${id}, apiKey: "${KEY}", keyFile: "${dir}/${id}.json" }`).join('\n');
  const started = await startRuntime(`${yaml}platforms:\n${platforms}\n`, { bot: counter });
  running.push(started.runtime);
  return started.url;
}

/** Sends `/<command>` as `user` (in `group` if given) to entry `id`; the bot's answer. */
async function send(url: string, id: string, user: string, command = 'count', group?: string): Promise<string> {
  const body = { type: 'text', query: `/${command}`, sender_id: user, ...(group ? { chat_id: group, group: true } : {}) };
  const res = await fetch(`${url}/api/plug/${id}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  const data = ((await res.json()) as { data: { content: string }[] }).data;
  return data.map((d) => d.content).join('\n');
}

describe('ctx.state through the pipeline', () => {
  it('counts per user, per chat, per platform entry and for all, and no entry sees another entry\'s user, chat or bot keys', async () => {
    const url = await start(['a', 'b']);
    expect(await send(url, 'a', 'u1')).toBe('user 1 chat 1 bot 1 global 1 counted');
    expect(await send(url, 'a', 'u1')).toBe('user 2 chat 2 bot 2 global 2 counted');
    // Another user: a direct chat of its own, the same entry.
    expect(await send(url, 'a', 'u2')).toBe('user 1 chat 1 bot 3 global 3 counted');
    // Two users in one group: the chat's count is theirs together; each user's goes on from their direct chat.
    expect(await send(url, 'a', 'u1', 'count', 'g1')).toBe('user 3 chat 1 bot 4 global 4 counted');
    expect(await send(url, 'a', 'u2', 'count', 'g1')).toBe('user 2 chat 2 bot 5 global 5 counted');
    // The same user and group ids on another platform entry: only global is shared.
    expect(await send(url, 'b', 'u1')).toBe('user 1 chat 1 bot 1 global 6 counted');
    expect(await send(url, 'b', 'u1', 'count', 'g1')).toBe('user 2 chat 1 bot 2 global 7 counted');
  });

  it('loses no count when many users\' messages are handled at once', async () => {
    const url = await start(['a']);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => send(url, 'a', `u${i}`, 'bot')));
    expect(answers.sort((x, y) => Number(x.slice(4)) - Number(y.slice(4)))).toEqual(Array.from({ length: 40 }, (_, i) => `bot ${i + 1}`));
  });

  it('counts as one bot on two instances sharing one Redis, messages reaching either', async () => {
    const prefix = testPrefix('state');
    prefixes.push(prefix);
    const store = `store: { type: redis, url: "${redisUrl}", prefix: "${prefix}" }\n`;
    const urls = await Promise.all([start(['a'], store), start(['a'], store)]);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => send(urls[i % 2]!, 'a', `u${i}`, 'bot')));
    expect(answers.sort((x, y) => Number(x.slice(4)) - Number(y.slice(4)))).toEqual(Array.from({ length: 40 }, (_, i) => `bot ${i + 1}`));
  });
});
