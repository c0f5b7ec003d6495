// A streamed reply meets the operator's onResult callback, through the runtime and the config:
// `stream: collect` (the default) holds the answer until onResult has seen and rewritten it;
// `stream: observe` shows it live and posts the final text afterwards, sending what onResult adds.

import { afterEach, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/runtime/runtime.js';
import { CallbackServer } from './fakes/callback-server.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { startRuntime, waitFor } from './helpers.js';
import { streamingBot } from './stream-bot.js';

const group = { id: -100, type: 'supergroup', title: 'Team' };
let runtime: Runtime | undefined;
let fake: FakeTelegram | undefined;
let callbacks: CallbackServer | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  await callbacks?.stop();
  runtime = fake = callbacks = undefined;
});

type Reply = Parameters<CallbackServer['on']>[1];

/** The koipy way: the whole payload back, its result's replies rewritten. */
const rewrite: Reply = (ctx, body) => {
  body.result.replies = body.result.replies.map((r: object) => ({ ...r, content: [{ type: 'text', text: 'REWRITTEN' }] }));
  ctx.body = body;
};
/** A plain-text answer: content added after the replies. */
const addition: Reply = (ctx) => {
  ctx.type = 'text/plain';
  ctx.body = 'sources: none';
};

async function start(onResult: string, reply: Reply) {
  fake = new FakeTelegram();
  await fake.start();
  callbacks = new CallbackServer();
  await callbacks.start();
  callbacks.on('onResult', reply);
  const { bot, writer } = streamingBot();
  const yaml = [
    'platforms:',
    `  - { id: tg, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}", pollTimeout: 1 }`,
    'callbacks:',
    `  onResult: { url: "${callbacks.url}/onResult"${onResult} }`,
    `  onSent: "${callbacks.url}/onSent"`,
  ].join('\n');
  runtime = (await startRuntime(yaml, { bot })).runtime;
  return { fake, callbacks, writer };
}

const shown = (f: FakeTelegram) => f.calls.filter((c) => /^(send|edit)/.test(c.method)).map((c) => `${c.method}:${c.params.text ?? ''}`);

describe('streamed replies and onResult', () => {
  it('collect (the default): nothing is shown before onResult answered; its rewrite is what the chat gets', async () => {
    const { fake, callbacks, writer } = await start('', rewrite);
    fake.pushMessage({ text: 'tell me', chat: group });
    const out = await writer();
    out.write('Once ');
    out.write('upon a time');
    out.end();
    await fake.waitForCall('sendMessage', (c) => c.params.text === 'REWRITTEN', 5000);
    expect(JSON.parse(callbacks.received.find((r) => r.stage === 'onResult')!.raw).result.replies[0].content).toEqual([{ type: 'text', text: 'Once upon a time' }]);
    // Held for onResult: no partial text, no edit, only what onResult made of it.
    expect(shown(fake)).toEqual(['sendMessage:REWRITTEN']);
  });

  it('observe: the answer grows live, onResult gets the final text after it, and what it adds is sent after', async () => {
    const { fake, callbacks, writer } = await start(', stream: observe', addition);
    fake.pushMessage({ text: 'tell me', chat: group });
    const out = await writer();
    out.write('Once ');
    await fake.waitForCall('sendMessage', (c) => c.params.text === 'Once ', 5000);
    expect(callbacks.received).toEqual([]);
    out.write('upon a time');
    out.end();
    await fake.waitForCall('sendMessage', (c) => c.params.text === 'sources: none', 8000);
    expect(JSON.parse(callbacks.received.find((r) => r.stage === 'onResult')!.raw).result.replies[0].content).toEqual([{ type: 'text', text: 'Once upon a time' }]);
    expect(shown(fake)).toEqual(['sendMessage:Once ', 'editMessageText:Once upon a time', 'sendMessage:sources: none']);
  });

  it('observe: a rewrite of what was already shown is ignored; onSent hears the message ids and the edits made', async () => {
    const { fake, callbacks, writer } = await start(', stream: observe', rewrite);
    fake.pushMessage({ text: 'tell me', chat: group });
    const out = await writer();
    out.write('Once ');
    await fake.waitForCall('sendMessage', (c) => c.params.text === 'Once ', 5000);
    out.write('upon a time');
    out.end();
    // onSent comes once everything of the message was delivered: a rewrite would have gone out before it.
    const sent = await waitFor(() => callbacks.received.find((r) => r.stage === 'onSent'), 8000, 'onSent');
    expect(shown(fake)).toEqual(['sendMessage:Once ', 'editMessageText:Once upon a time']);
    expect(sent.body.delivery).toEqual([{ ok: true, ids: [String(fake.delivered()[0]!.messageId)], ms: expect.any(Number), edits: 1 }]);
  });
});
