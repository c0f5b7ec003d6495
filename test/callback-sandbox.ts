// The sandbox the lifecycle-callback tests run in: the example bot (or a given one) on two sandbox
// platforms, with callbacks pointing at a fresh fake callback server, and a user to talk to it.
// callbacks.test.ts (what an answer does) and callback-failures.test.ts (failing callbacks) use it.

import { afterEach, expect } from 'vitest';
import type { ChatMessage, PageSegment } from '../adapters/sandbox/chats.js';
import type { Bot } from '../src/bot/bot.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { CallbackServer } from './fakes/callback-server.js';
import { startRuntime, waitFor } from './helpers.js';

export const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
export const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
export const text = (t: string): PageSegment[] => [{ type: 'text', text: t }];
export const all = { onMessage: 'onMessage', onPreSend: 'onPreSend', onResult: 'onResult', onSent: 'onSent' };

/**
 * Registers the afterEach that stops what a test started, and returns `setup` and `live`: what is
 * running now (a test that starts its own runtime or callback server puts it there to be stopped).
 */
export function useCallbackSandbox() {
  const live: { runtime?: Runtime; hooks?: CallbackServer } = {};
  afterEach(async () => {
    await live.runtime?.stop();
    await live.hooks?.stop();
    live.runtime = live.hooks = undefined;
  });

  /** The sandbox with the example bot (or `bot`) and callbacks at `stages` pointing at a fresh callback server. */
  async function setup(stages: Record<string, string | Record<string, unknown>>, bot?: Bot) {
    const hooks = (live.hooks = await new CallbackServer().start());
    const lines = Object.entries(stages).map(([stage, v]) => {
      if (stage === 'budget') return `  budget: ${JSON.stringify(v)}`;
      const value = typeof v === 'string' ? { url: `${hooks.url}/${v}` } : { url: `${hooks.url}/${stage}`, ...v };
      return `  ${stage}: ${JSON.stringify(value)}`;
    });
    const yaml = `platforms: [{ id: sandbox, type: sandbox }, { id: other, type: sandbox }]\ncallbacks:\n${lines.join('\n')}\n`;
    const started = await startRuntime(yaml, { bot });
    const runtime = (live.runtime = started.runtime);
    const api = `${started.url}/sandbox/sandbox/api`;
    const say = async (text: string) => {
      const res = await fetch(`${api}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { id: 'alice', name: 'Alice' }, chat: { id: 'dm:alice', type: 'direct' }, text }) });
      expect(res.status).toBe(202);
    };
    const seen = async (count: number) =>
      waitFor(async () => {
        const { messages } = (await (await fetch(`${api}/chats/dm:alice/messages`)).json()) as { messages: ChatMessage[] };
        const bot = messages.filter((m) => m.from.isBot).map((m) => m.segments);
        return bot.length >= count && bot;
      }, 4000, `${count} bot messages`);
    return { hooks, runtime, say, seen, logs: started.logs, url: started.url };
  }

  return { setup, live };
}
