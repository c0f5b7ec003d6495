import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import type { ChatMessage } from '../adapters/sandbox/chats.js';
import { defineBot, type Bot } from '../src/bot/bot.js';
import { editDistance, parseSpec, type ArgsOf } from '../src/bot/command.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { startRuntime, waitFor, type LogLine } from './helpers.js';

let runtime: Runtime | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

async function chat(bot: Bot) {
  const started = await startRuntime('platforms: [{ id: sandbox, type: sandbox }, { id: other, type: sandbox }]', { bot });
  runtime = started.runtime;
  const api = (id: string) => `${started.url}/sandbox/${id}/api`;
  const say = (text: string, chatId = 'dm:alice') =>
    fetch(`${api('sandbox')}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: { id: 'alice', name: 'Alice' }, chat: { id: chatId, type: chatId.startsWith('dm:') ? 'direct' : 'group' }, text }),
    });
  const replies = async (count: number, chatId = 'dm:alice', platform = 'sandbox') =>
    waitFor(async () => {
      const { messages } = (await (await fetch(`${api(platform)}/chats/${chatId}/messages`)).json()) as { messages: ChatMessage[] };
      const bot = messages.filter((m) => m.from.isBot);
      return bot.length >= count && bot.map((m) => m.segments);
    }, 3000, `${count} replies`);
  return { say, replies, logs: started.logs };
}

describe('bot API', () => {
  it('types and parses command arguments, answering usage on bad input', async () => {
    expectTypeOf<ArgsOf<'roll <sides:int> [times:number] [label:rest]'>>().toEqualTypeOf<{ sides: number; times?: number; label?: string }>();
    const bot = defineBot((b) => {
      b.command('roll <sides:int> [times:number] [label:rest]', (ctx) => `${ctx.args.sides}x${ctx.args.times ?? 1} ${ctx.args.label ?? '-'}`);
      b.command('say <who> <what:rest>', (ctx) => `${ctx.args.who}: ${ctx.args.what}`);
    });
    const { say, replies } = await chat(bot);
    await say('/roll 6 2 big dice');
    await replies(1);
    await say('/roll six');
    await replies(2);
    await say('/say "Bob Smith" hi there');
    await replies(3);
    await say('/roll');
    expect(await replies(4)).toEqual([
      [{ type: 'text', text: '6x2 big dice' }],
      [{ type: 'text', text: '<sides> must be a whole number, got "six"\nUsage: /roll <sides> [times] [label]' }],
      [{ type: 'text', text: 'Bob Smith: hi there' }],
      [{ type: 'text', text: 'missing <sides>\nUsage: /roll <sides> [times] [label]' }],
    ]);
  });

  it('runs middleware around handlers in order, and a middleware can stop a message', async () => {
    const order: string[] = [];
    const bot = defineBot((b) => {
      b.use(async (ctx, next) => {
        order.push('outer in');
        if (ctx.text === 'blocked') return ctx.reply('nope');
        await next();
        order.push('outer out');
      });
      b.use(async (_ctx, next) => {
        order.push('inner');
        await next();
      });
      b.on('message', (ctx) => {
        order.push('handler');
        ctx.reply(`got ${ctx.text}`);
      });
    });
    const { say, replies } = await chat(bot);
    await say('hello');
    await replies(1);
    await say('blocked');
    expect(await replies(2)).toEqual([[{ type: 'text', text: 'got hello' }], [{ type: 'text', text: 'nope' }]]);
    expect(order).toEqual(['outer in', 'inner', 'handler', 'outer out', 'outer in']);
  });

  it('runs plain and async layers alike: a plain middleware sees the handler done when its next() settles, a handler returning a promise replies with its value, next() twice fails the message', async () => {
    const order: string[] = [];
    const bot = defineBot((b) => {
      // Not async: what next() returns is the only way to wait for the rest.
      b.use((ctx, next) => {
        order.push(`in ${ctx.text}`);
        if (ctx.text === 'twice') return next().then(() => next());
        return next().then(() => void order.push(`out ${ctx.text}`));
      });
      b.on('message', (ctx) => {
        order.push(`handler ${ctx.text}`);
        return ctx.text === 'later' ? new Promise((resolve) => setImmediate(() => resolve(`later: ${ctx.text}`))) : `now: ${ctx.text}`;
      });
    });
    const { say, replies, logs } = await chat(bot);
    await say('now');
    await replies(1);
    await say('later');
    await replies(2);
    await say('twice');
    await waitFor(() => logs.find((l) => l.msg === 'handler threw; no reply sent'), 3000, 'the failure');
    await say('after');
    expect(await replies(3)).toEqual([[{ type: 'text', text: 'now: now' }], [{ type: 'text', text: 'later: later' }], [{ type: 'text', text: 'now: after' }]]);
    expect(order).toEqual(['in now', 'handler now', 'out now', 'in later', 'handler later', 'out later', 'in twice', 'handler twice', 'in after', 'handler after', 'out after']);
    expect(logs.find((l) => l.msg === 'handler threw; no reply sent')!.err).toMatchObject({ message: 'next() called more than once' });
  });

  it('logs a throwing handler with its event id and keeps serving', async () => {
    const bot = defineBot((b) => {
      b.command('boom', () => {
        throw new Error('kaboom');
      });
      b.command('ping', () => 'pong');
    });
    const { say, replies, logs } = await chat(bot);
    await say('/boom');
    await say('/ping');
    expect(await replies(1)).toEqual([[{ type: 'text', text: 'pong' }]]);
    const failure = logs.find((l: LogLine) => l.msg === 'handler threw; no reply sent')!;
    expect(failure.err).toMatchObject({ message: 'kaboom' });
    expect(failure.event).toMatch(/^[0-9a-f-]{36}$/);
    expect(logs.find((l) => l.msg === 'message handled' && l.event === failure.event)).toMatchObject({ outcome: 'handler failed', chat: 'dm:alice' });
  });

  it('sends to another chat on another platform with ctx.send', async () => {
    const bot = defineBot((b) => {
      b.on('message', (ctx) => {
        ctx.send({ botId: 'other', channelId: 'group:ops' }, [{ type: 'text', text: `${ctx.message.author.name} said ` }, { type: 'text', text: ctx.text }]);
        ctx.reply('forwarded', { quote: false });
      });
    });
    const { say, replies } = await chat(bot);
    await say('help me');
    expect(await replies(1, 'group:ops', 'other')).toEqual([[{ type: 'text', text: 'Alice said ' }, { type: 'text', text: 'help me' }]]);
    expect(await replies(1)).toEqual([[{ type: 'text', text: 'forwarded' }]]);
  });

  it('rejects malformed command specs at definition time', () => {
    expect(() => parseSpec('echo <text:rest> <more>')).toThrow(/must come last/);
    expect(() => parseSpec('x <a:float>')).toThrow(/unknown type "float"/);
    expect(() => parseSpec('x <a]')).toThrow(/invalid parameter/);
    expect(() => defineBot((b) => b.command('a', () => 1).command('a', () => 2))).toThrow(/defined twice/);
    expect(editDistance('pnig', 'ping')).toBe(1);
    expect(editDistance('echo', 'ping')).toBe(4);
  });
});
