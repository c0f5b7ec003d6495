import { afterEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../adapters/sandbox/chats.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { startRuntime, tempStorePath, waitFor } from './helpers.js';

const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
let runtime: Runtime | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

async function sandbox(yaml = 'platforms: [{ id: sandbox, type: sandbox }]', storePath?: string) {
  const started = await startRuntime(yaml, { storePath });
  runtime = started.runtime;
  const api = `${started.url}/sandbox/sandbox/api`;
  const post = (body: unknown) => fetch(`${api}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const history = async (chat: string) => ((await (await fetch(`${api}/chats/${encodeURIComponent(chat)}/messages`)).json()) as { messages: ChatMessage[] }).messages;
  const botReplies = async (chat: string, count: number) => waitFor(async () => {
    const bot = (await history(chat)).filter((m) => m.from.isBot);
    return bot.length >= count && bot;
  }, 3000, `${count} bot replies in ${chat}`);
  return { ...started, api, post, history, botReplies };
}

const alice = { id: 'alice', name: 'Alice' };
const dm = { id: 'dm:alice', type: 'direct' };

describe('sandbox platform', () => {
  it('serves the chat page at / with the API path filled in', async () => {
    const { url } = await sandbox();
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('/sandbox/sandbox/api');
    expect(html).not.toContain('__SANDBOX_API__');
  });

  it('answers /ping, /echo and plain text in a direct chat, quoting the user', async () => {
    const { post, botReplies, history } = await sandbox();
    expect((await post({ user: alice, chat: dm, text: '/ping' })).status).toBe(202);
    await botReplies(dm.id, 1);
    await post({ user: alice, chat: dm, text: '/echo hello   world' });
    await botReplies(dm.id, 2);
    await post({ user: alice, chat: dm, text: 'just talking' });
    const replies = await botReplies(dm.id, 3);
    expect(replies.map((m) => m.segments)).toEqual([[{ type: 'text', text: 'pong' }], [{ type: 'text', text: 'hello   world' }], [{ type: 'text', text: 'just talking' }]]);
    const all = await history(dm.id);
    expect(replies[0]!.replyTo).toBe(all[0]!.id);
  });

  it('lists commands in /help and suggests the nearest command for a typo', async () => {
    const { post, botReplies } = await sandbox();
    await post({ user: alice, chat: dm, text: '/help' });
    await post({ user: alice, chat: dm, text: '/pnig' });
    const [help, typo] = await botReplies(dm.id, 2);
    expect(help!.segments[0]).toMatchObject({ type: 'text', text: expect.stringContaining('/echo <text> — repeat the text') });
    expect(typo!.segments).toEqual([{ type: 'text', text: 'Unknown command /pnig. Did you mean /ping?' }]);
  });

  it('echoes an image back, bytes intact, through a media URL', async () => {
    const { post, botReplies } = await sandbox();
    await post({ user: alice, chat: dm, attachments: [{ kind: 'image', name: 'dot.png', mime: 'image/png', data: png.toString('base64') }] });
    const [reply] = await botReplies(dm.id, 1);
    const image = reply!.segments[0] as { type: string; url: string; mime: string };
    expect(image).toMatchObject({ type: 'image', mime: 'image/png', name: 'dot.png' });
    const fetched = await fetch(image.url);
    expect(fetched.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await fetched.arrayBuffer()).equals(png)).toBe(true);
  });

  it('keeps group chats and users apart and sees an @mention of the bot', async () => {
    const { post, botReplies, history } = await sandbox();
    const lobby = { id: 'group:lobby', type: 'group' };
    await post({ user: alice, chat: lobby, text: '@Switchboard /echo hi all' });
    await post({ user: { id: 'bob', name: 'Bob' }, chat: lobby, text: '@Switchboard hello from bob' });
    const replies = await botReplies(lobby.id, 2);
    expect(replies.map((m) => m.segments[0])).toEqual([{ type: 'text', text: 'hi all' }, { type: 'text', text: 'hello from bob' }]);
    expect((await history(lobby.id)).filter((m) => !m.from.isBot).map((m) => m.from.id)).toEqual(['alice', 'bob']);
    expect(await history(dm.id)).toEqual([]);
  });

  it('in a group answers only what is addressed to it (a /command or an @mention), as the page says; in a direct chat, everything', async () => {
    const { post, botReplies, history } = await sandbox();
    const page = await (await fetch(`${runtime!.url}/`)).text();
    expect(page).toContain('In groups, mention the bot with @Switchboard or use /commands.');
    const lobby = { id: 'group:lobby', type: 'group' };
    await post({ user: alice, chat: lobby, text: 'just chatting with the others' });
    await post({ user: alice, chat: lobby, text: '/ping' });
    await post({ user: alice, chat: lobby, text: '@Switchboard are you there?' });
    // One chat's messages are handled in order: once the last two are answered, the first was handled too.
    const replies = await botReplies(lobby.id, 2);
    const said = (await history(lobby.id)).filter((m) => !m.from.isBot);
    expect(replies.map((m) => [m.replyTo, m.segments])).toEqual([
      [said[1]!.id, [{ type: 'text', text: 'pong' }]],
      [said[2]!.id, [{ type: 'text', text: 'are you there?' }]],
    ]);
    await post({ user: alice, chat: dm, text: 'no mention needed here' });
    expect((await botReplies(dm.id, 1)).map((m) => m.segments)).toEqual([[{ type: 'text', text: 'no mention needed here' }]]);
    expect((await history(lobby.id)).filter((m) => m.from.isBot)).toHaveLength(2);
  });

  it('streams new messages of a chat over SSE', async () => {
    const { api, post } = await sandbox();
    const controller = new AbortController();
    const events = await fetch(`${api}/events?chat=dm:alice`, { signal: controller.signal });
    expect(events.headers.get('content-type')).toContain('text/event-stream');
    await post({ user: alice, chat: dm, text: '/ping' });
    const reader = events.body!.getReader();
    let text = '';
    await waitFor(async () => {
      text += new TextDecoder().decode((await reader.read()).value);
      return text.includes('"pong"');
    });
    controller.abort();
    const frames = text.split('\n\n').filter((f) => f.startsWith('event: message'));
    expect(frames.map((f) => (JSON.parse(f.split('data: ')[1]!) as ChatMessage).from.isBot)).toEqual([false, true]);
  });

  it('answers bad requests with a clear 4xx', async () => {
    const { api, post } = await sandbox();
    const malformed = await fetch(`${api}/messages`, { method: 'POST', body: '{"user":' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ error: 'request body is not valid JSON' });
    const missing = await post({ chat: dm, text: 'hi' });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toMatch(/^user:/);
    const empty = await post({ user: alice, chat: dm, text: '   ' });
    expect(empty.status).toBe(400);
    const huge = await post({ user: alice, chat: dm, attachments: [{ kind: 'file', name: 'big.bin', mime: 'application/octet-stream', data: Buffer.alloc(6 * 1024 * 1024).toString('base64') }] });
    expect(huge.status).toBe(413);
    const events = await fetch(`${api}/events`);
    expect(events.status).toBe(400);
  });

  it('answers a new message after a restart on the same store (its ids are not taken for ones seen before)', async () => {
    const storePath = tempStorePath();
    const first = await sandbox(undefined, storePath);
    await first.post({ user: alice, chat: dm, text: '/ping' });
    await first.botReplies(dm.id, 1);
    await runtime!.stop();
    const again = await sandbox(undefined, storePath);
    expect((await again.post({ user: alice, chat: dm, text: '/echo after the restart' })).status).toBe(202);
    const [reply] = await again.botReplies(dm.id, 1);
    expect(reply!.segments).toEqual([{ type: 'text', text: 'after the restart' }]);
  });

  it('answers 503 with Retry-After when the store cannot take a message', async () => {
    const { post } = await sandbox();
    runtime!.store.inbox.admit = () => Promise.reject(new Error('disk I/O error'));
    const res = await post({ user: alice, chat: dm, text: '/ping' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
  });
});
