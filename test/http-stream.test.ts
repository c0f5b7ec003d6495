// The HTTP endpoint's `stream: true`: server-sent events read by a real SSE client (the
// `eventsource` package), the answer growing as the bot writes it, then the poll answer.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventSource } from 'eventsource';
import { afterEach, describe, expect, it } from 'vitest';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { CallbackServer } from './fakes/callback-server.js';
import { startRuntime, waitFor } from './helpers.js';

const KEY = 'test-key-0123456789';
let runtime: Runtime | undefined;
let hooks: CallbackServer | undefined;
const sources: EventSource[] = [];
afterEach(async () => {
  for (const es of sources.splice(0)) es.close();
  await runtime?.stop();
  await hooks?.stop();
  runtime = hooks = undefined;
});

/** A gate the test opens: the bot's stream waits on it between chunks, so the test sees the answer midway. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** A bot whose /talk answers with `chunks()`. */
const streamingBot = (chunks: () => AsyncIterable<string>): Bot => defineBot((b) => b.command('talk', () => chunks()));

async function endpoint(bot: Bot, extra = '') {
  const dir = await mkdtemp(join(tmpdir(), 'sb-http-stream-'));
  const started = await startRuntime(`platforms:\n  - { id: api, type: http, apiKey: "${KEY}", keyFile: "${dir}/key.json"${extra} }\n`, { bot });
  runtime = started.runtime;
  const url = `${started.url}/api/plug/v1/chat`;
  const post = async (body: unknown) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify(body) });
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, any> };
  };
  return { url, post };
}

interface Delta {
  item_id: string;
  text: string;
}
interface Answer {
  code: number;
  msg_id: string;
  data: { item_id: string; type: string; content: string }[];
}

/** POSTs `body` and reads the answer with an EventSource: its delta events as they come, and the done event. */
function subscribe(url: string, body: unknown) {
  const deltas: Delta[] = [];
  const response: { status?: number; type?: string | null } = {};
  const es = new EventSource(url, {
    fetch: async (input, init) => {
      const res = await fetch(input, { ...init, method: 'POST', headers: { ...init.headers, authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      response.status = res.status;
      response.type = res.headers.get('content-type');
      return res;
    },
  });
  sources.push(es);
  const done = new Promise<Answer>((resolve, reject) => {
    es.addEventListener('delta', (e) => deltas.push(JSON.parse(e.data) as Delta));
    es.addEventListener('done', (e) => {
      es.close(); // the server ends the stream after done; EventSource would otherwise reconnect
      resolve(JSON.parse(e.data) as Answer);
    });
    es.addEventListener('error', (e) => {
      es.close();
      reject(new Error(`the event stream failed: ${e.message ?? e.code}`));
    });
  });
  const text = () => deltas.map((d) => d.text).join('');
  return { deltas, done, text, response };
}

const talk = (msgId: string, extra: Record<string, unknown> = {}) => ({ msg_id: msgId, type: 'text', query: '/talk', sender_id: 'u1', ...extra });

describe('http endpoint: stream: true', () => {
  it('sends the text as it grows, then the ids and content a poll returns, and ends', async () => {
    const later = gate();
    const { url, post } = await endpoint(
      streamingBot(async function* () {
        yield 'Hello';
        await later.opened;
        for (const word of [' brave', ' new', ' world']) yield word;
      }),
    );
    const sse = subscribe(url, talk('s1', { stream: true }));
    // The first words reach the client while the bot is still writing: it waits on the gate until they did.
    await waitFor(() => sse.text() === 'Hello', 3000, 'the first delta');
    later.open();
    const done = await sse.done;
    expect(sse.response).toEqual({ status: 200, type: 'text/event-stream; charset=utf-8' });
    expect(done).toMatchObject({ code: 0, detail: 'success', msg_id: 's1', data: [{ item_id: expect.stringMatching(/^[A-Za-z0-9]{12}$/), type: 'text', content: 'Hello brave new world' }] });
    expect(sse.deltas.length).toBeGreaterThanOrEqual(2);
    expect(sse.text()).toBe('Hello brave new world');
    expect(new Set(sse.deltas.map((d) => d.item_id))).toEqual(new Set([done.data[0]!.item_id]));
    // A poll of the same msg_id sees the same items.
    const poll = await post(talk('s1'));
    expect(poll.body.data).toEqual(done.data);
  });

  it('a stream that throws: the final event carries what was shown with the notice', async () => {
    const later = gate();
    const { url, post } = await endpoint(
      streamingBot(async function* () {
        yield 'Partial answer';
        await later.opened;
        throw new Error('the model crashed');
      }),
    );
    const sse = subscribe(url, talk('t1', { stream: true }));
    await waitFor(() => sse.text() === 'Partial answer', 3000, 'the first delta');
    later.open();
    const done = await sse.done;
    expect(done.data).toEqual([{ item_id: sse.deltas[0]!.item_id, type: 'text', content: 'Partial answer\n\n(the answer was interrupted)' }]);
    expect(JSON.stringify(done)).not.toContain('the model crashed');
    expect((await post(talk('t1'))).body.data).toEqual(done.data);
  });

  it('a poll without stream gets the finished answer only; a second stream joins midway with the text so far; quiet gaps carry heartbeats', async () => {
    const later = gate();
    const { url, post } = await endpoint(
      streamingBot(async function* () {
        yield 'one';
        await later.opened;
        yield ' two';
      }),
      ', streamHeartbeat: 20ms',
    );
    // A raw reader, to see the heartbeat comments an EventSource hides.
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify(talk('h1', { stream: true })) });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let raw = '';
    await waitFor(async () => {
      raw += (await reader.read()).value ?? '';
      return raw.includes('event: delta') && raw.split(': ping\n\n').length > 2;
    }, 3000, 'a delta and two heartbeats');
    expect(raw).toContain(`event: delta\ndata: {"item_id":`);
    // Joining the same msg_id midway: its first delta is the whole text shown so far.
    const late = subscribe(url, talk('h1', { stream: true }));
    await waitFor(() => late.text() === 'one', 3000, 'the late stream catching up');
    const polled = post(talk('h1'));
    later.open();
    const [done, poll] = await Promise.all([late.done, polled]);
    expect(late.text()).toBe('one two');
    expect(poll.type).toContain('application/json');
    expect(poll.body.data).toEqual(done.data);
    expect(done.data.map((d) => d.content)).toEqual(['one two']);
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      raw += chunk.value;
    }
    expect(raw.endsWith(`event: done\ndata: ${JSON.stringify({ ...done, api_key_ttl: JSON.parse(raw.slice(raw.lastIndexOf('data: ') + 6)).api_key_ttl })}\n\n`)).toBe(true);
  });

  it('refuses a stream that is not a boolean, and stream in callback mode, with 400', async () => {
    const { post } = await endpoint(streamingBot(async function* () { yield 'x'; }));
    expect(await post(talk('b1', { stream: 'yes' }))).toMatchObject({ status: 400, body: { code: 400, detail: 'stream: Invalid input: expected boolean, received string' } });
    await runtime!.stop();
    hooks = await new CallbackServer().start();
    const cb = await endpoint(streamingBot(async function* () { yield 'x'; }), `, mode: callback, callbackUrl: "${hooks.url}/hep"`);
    expect(await cb.post(talk('b2', { stream: true }))).toMatchObject({ status: 400, body: { code: 400, detail: 'stream: only in poll mode; in callback mode each answer is POSTed to callbackUrl' } });
  });

  it('callback mode POSTs only the finished answer, once', async () => {
    hooks = await new CallbackServer().start();
    hooks.on('hep', (ctx) => {
      ctx.status = 200;
    });
    const words = ['a', ' streamed', ' answer', ' in', ' five'];
    const { post } = await endpoint(
      streamingBot(async function* () {
        for (const w of words) {
          await new Promise((resolve) => setImmediate(resolve));
          yield w;
        }
      }),
      `, mode: callback, callbackUrl: "${hooks.url}/hep"`,
    );
    expect((await post(talk('c1'))).body).toMatchObject({ code: 0, data: [] });
    await waitFor(() => hooks!.received.length > 0, 3000, 'the callback');
    // Deltas would have come before the finished answer: the first POST is the whole of it.
    expect(hooks.received.map((r) => r.body)).toEqual([{ msg_id: 'c1', data: [{ item_id: expect.any(String), type: 'text', content: words.join('') }] }]);
  });
});
