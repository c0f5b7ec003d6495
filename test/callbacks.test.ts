import { Webhook } from 'standardwebhooks';
import type { Context } from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChatMessage, PageSegment } from '../adapters/sandbox/chats.js';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { CallbackServer } from './fakes/callback-server.js';
import { sleep, startRuntime, waitFor } from './helpers.js';

const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

let runtime: Runtime | undefined;
let hooks: CallbackServer | undefined;
afterEach(async () => {
  await runtime?.stop();
  await hooks?.stop();
  runtime = hooks = undefined;
});

/** The sandbox with the example bot (or `bot`) and callbacks at `stages` pointing at a fresh callback server. */
async function setup(stages: Record<string, string | Record<string, unknown>>, bot?: Bot) {
  hooks = await new CallbackServer().start();
  const lines = Object.entries(stages).map(([stage, v]) => {
    if (stage === 'budget') return `  budget: ${JSON.stringify(v)}`;
    const value = typeof v === 'string' ? { url: `${hooks!.url}/${v}` } : { url: `${hooks!.url}/${stage}`, ...v };
    return `  ${stage}: ${JSON.stringify(value)}`;
  });
  const yaml = `platforms: [{ id: sandbox, type: sandbox }, { id: other, type: sandbox }]\ncallbacks:\n${lines.join('\n')}\n`;
  const started = await startRuntime(yaml, { bot });
  runtime = started.runtime;
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
  return { hooks, say, seen, logs: started.logs, url: started.url };
}

const text = (t: string): PageSegment[] => [{ type: 'text', text: t }];
const all = { onMessage: 'onMessage', onPreSend: 'onPreSend', onResult: 'onResult', onSent: 'onSent' };

describe('lifecycle callbacks', () => {
  it('calls every stage in order with one signed payload shape, secrets removed', async () => {
    const { hooks, say, seen } = await setup({ ...all, onMessage: { secret } });
    await say('/echo hi');
    expect(await seen(1)).toEqual([text('hi')]);
    await waitFor(() => hooks.received.length === 4);
    expect(hooks.stages()).toEqual(['onMessage', 'onPreSend', 'onResult', 'onSent']);
    const [onMessage, onPreSend, onResult, onSent] = hooks.received.map((r) => r.body);
    expect(new Set(hooks.received.map((r) => r.body.eventId)).size).toBe(1);
    expect(onMessage).toMatchObject({ stage: 'onMessage', bot: { id: 'sandbox', type: 'sandbox', selfId: 'bot' }, addons: {}, message: { text: '/echo hi', platform: 'sandbox', channel: { id: 'dm:alice', type: 'direct' }, author: { id: 'alice' } } });
    expect(onMessage).not.toHaveProperty('request');
    expect(onPreSend!.request).toEqual({ command: 'echo', args: { text: 'hi' }, route: null });
    expect(onResult!.result).toEqual({ replies: [{ to: { botId: 'sandbox', channelId: 'dm:alice', type: 'direct' }, content: [{ type: 'text', text: 'hi' }], replyTo: onMessage!.message.id, inResponseTo: onMessage!.message.id }], data: {} });
    expect(onSent!.delivery).toEqual([{ ok: true, ids: [expect.any(String)], ms: expect.any(Number) }]);
    // signed for the stage that has a secret, verifiable with the standardwebhooks package
    const signed = hooks.received[0]!;
    expect(new Webhook(secret).verify(signed.raw, signed.headers)).toMatchObject({ stage: 'onMessage' });
    expect(signed.headers['webhook-id']).toBe(`${onMessage!.eventId}.onMessage`);
    expect(() => new Webhook(secret).verify(signed.raw.replace('hi', 'ho'), signed.headers)).toThrow();
    expect(hooks.received[1]!.headers).not.toHaveProperty('webhook-signature');
    // the config rides along, with the callback secret masked
    expect(onMessage!.config.callbacks.onMessage.secret).toBe('********');
    expect(hooks.received.some((r) => r.raw.includes(secret.slice(6)))).toBe(false);
  });

  it('onMessage 403 with text blocks the user: they see the text, nothing else runs', async () => {
    const { hooks, say, seen } = await setup(all);
    hooks.on('onMessage', (ctx, body) => {
      if (body.message.author.id === 'alice') {
        ctx.status = 403;
        ctx.body = 'You are blocked.';
      }
    });
    await say('/ping');
    expect(await seen(1)).toEqual([text('You are blocked.')]);
    await sleep(50);
    expect(hooks.stages()).toEqual(['onMessage', 'onSent']);
  });

  it('onPreSend JSON re-routes a request and patches args', async () => {
    const bot = defineBot((b) => {
      b.command('echo <text:rest>', (ctx) => ctx.args.text);
      b.route('premium', (ctx) => `premium answer to ${ctx.text}`);
    });
    const { hooks, say, seen } = await setup({ onPreSend: 'onPreSend' }, bot);
    hooks.on('onPreSend', (ctx, body) => {
      ctx.body = body.request.args.text === 'vip' ? { route: 'premium' } : { args: { text: `${body.request.args.text}!` } };
    });
    await say('/echo vip');
    await seen(1);
    await say('/echo hello');
    expect(await seen(2)).toEqual([text('premium answer to /echo vip'), text('hello!')]);
  });

  it('onResult JSON adds a field to result.data and rewrites a reply; onSent sees both', async () => {
    const { hooks, say, seen } = await setup({ onResult: 'onResult', onSent: 'onSent' });
    hooks.on('onResult', (ctx, body) => {
      const [reply] = body.result.replies;
      ctx.body = { data: { points: 5 }, replies: [{ ...reply, content: [{ type: 'text', text: 'rewritten' }] }] };
    });
    await say('/ping');
    expect(await seen(1)).toEqual([text('rewritten')]);
    await waitFor(() => hooks.received.length === 2);
    expect(hooks.received[1]!.body.result.data).toEqual({ points: 5 });
  });

  it('takes koipy\'s answers unchanged: the whole payload back with its stage\'s part changed, and a JSON null', async () => {
    const { hooks, say, seen, logs } = await setup(all);
    // aiohttp's web.json_response(): `null` as application/json
    hooks.on('onMessage', (ctx) => {
      ctx.type = 'application/json';
      ctx.body = 'null';
    });
    // data = await request.json(); data['request']['args']['text'] = ...; return web.json_response(data)
    hooks.on('onPreSend', (ctx, data) => {
      data.request.args.text = 'edited';
      data.config = { tampered: true };
      data.eventId = 'not-ours';
      ctx.body = data;
    });
    // read-only parts changed too (another stage's part, the bot): ignored, not an error
    hooks.on('onResult', (ctx, data) => {
      data.result.replies[0].content = [{ type: 'text', text: `${data.result.replies[0].content[0].text.toUpperCase()}!` }];
      data.result.data = { points: 5 };
      data.message.text = '/something else';
      data.bot = { id: 'nobody' };
      ctx.body = data;
    });
    hooks.on('onSent', (ctx, data) => void (ctx.body = data));
    await say('/echo hello');
    expect(await seen(1)).toEqual([text('EDITED!')]);
    await waitFor(() => hooks.received.length === 4);
    const onSent = hooks.received[3]!.body;
    expect(onSent.result.data).toEqual({ points: 5 });
    expect(onSent.message.text).toBe('/echo hello');
    expect(onSent.bot.id).toBe('sandbox');
    expect(onSent.config).not.toHaveProperty('tampered');
    expect(logs.filter((l) => l.msg === 'callback failed')).toEqual([]);
  });

  it('an empty body with a JSON type goes on; a bare patch of the stage\'s data still merges', async () => {
    const { hooks, say, seen, logs } = await setup({ onMessage: 'onMessage', onResult: 'onResult' });
    hooks.on('onMessage', (ctx) => {
      ctx.respond = false;
      ctx.res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': '0' });
      ctx.res.end();
    });
    hooks.on('onResult', (ctx, body) => {
      ctx.body = { replies: [{ ...body.result.replies[0], content: [{ type: 'text', text: 'patched' }] }] };
    });
    await say('/ping');
    expect(await seen(1)).toEqual([text('patched')]);
    expect(logs.filter((l) => l.msg === 'callback failed')).toEqual([]);
  });

  it('200 with image/* sends the image after the reply', async () => {
    const { hooks, say, seen } = await setup({ onResult: 'onResult' });
    hooks.on('onResult', (ctx) => {
      ctx.type = 'image/png';
      ctx.body = png;
    });
    await say('/ping');
    const [reply, image] = await seen(2);
    expect(reply).toEqual(text('pong'));
    const segment = image![0] as { type: string; url: string; mime: string };
    expect(segment).toMatchObject({ type: 'image', mime: 'image/png' });
    expect(Buffer.from(await (await fetch(segment.url)).arrayBuffer()).equals(png)).toBe(true);
  });

  it('200 with text/plain, and koipy\'s plain/text, sends the text as well', async () => {
    const { hooks, say, seen } = await setup({ onMessage: 'onMessage', onResult: 'onResult' });
    hooks.on('onMessage', (ctx) => {
      ctx.set('Content-Type', 'plain/text');
      ctx.body = 'note from onMessage';
    });
    hooks.on('onResult', (ctx) => {
      ctx.type = 'text/plain';
      ctx.body = 'note from onResult';
    });
    await say('/ping');
    expect(await seen(3)).toEqual([text('pong'), text('note from onMessage'), text('note from onResult')]);
  });

  it('200 with no Content-Type sends the body as a file named by Content-Disposition', async () => {
    const { hooks, say, seen } = await setup({ onResult: 'onResult' });
    hooks.on('onResult', (ctx) => {
      ctx.respond = false;
      ctx.res.writeHead(200, { 'Content-Disposition': 'attachment; filename="report.csv"' });
      ctx.res.end('a,b\n1,2\n');
    });
    await say('/ping');
    const [, file] = await seen(2);
    const segment = file![0] as { type: string; url: string; name: string };
    expect(segment).toMatchObject({ type: 'file', name: 'report.csv' });
    expect(await (await fetch(segment.url)).text()).toBe('a,b\n1,2\n');
  });

  it('>= 400 with an image stops and shows the image', async () => {
    const { hooks, say, seen } = await setup({ onPreSend: 'onPreSend' });
    hooks.on('onPreSend', (ctx) => {
      ctx.status = 402;
      ctx.type = 'image/png';
      ctx.body = png;
    });
    await say('/ping');
    const [shown] = await seen(1);
    expect(shown![0]).toMatchObject({ type: 'image', mime: 'image/png' });
  });

  it('ignores other statuses such as a 302 or 307, and never follows the redirect', async () => {
    // The redirect points at a live server that answers like a callback would: following it would show.
    const elsewhere = await new CallbackServer().start();
    try {
      elsewhere.on('onMessage', (ctx) => {
        ctx.status = 403;
        ctx.body = 'followed the redirect';
      });
      const { hooks, say, seen } = await setup({ onMessage: 'onMessage' });
      let status = 302;
      hooks.on('onMessage', (ctx) => {
        ctx.status = status;
        ctx.set('Location', `${elsewhere.url}/onMessage`);
      });
      await say('/ping');
      expect(await seen(1)).toEqual([text('pong')]);
      status = 307; // a 307 would repeat the POST, body and all
      await say('/ping');
      expect(await seen(2)).toEqual([text('pong'), text('pong')]);
      expect(hooks.received).toHaveLength(2);
      expect(elsewhere.hits).toEqual([]);
    } finally {
      await elsewhere.stop();
    }
  });

  it('a 5xx from a crash or a proxy is a failed call, never shown; a deliberate 5xx answer still stops with its body', async () => {
    const { hooks, say, seen, logs } = await setup({ onMessage: 'onMessage', onPreSend: { onError: 'reject', errorMessage: 'Try again later' } });
    /** How onMessage answers each message, by its text. */
    const answers: Record<string, (ctx: Context) => void> = {
      koa: (ctx) => void ((ctx.status = 500), (ctx.type = 'text/plain'), (ctx.body = 'Internal Server Error')),
      aiohttp: (ctx) => void ((ctx.status = 500), (ctx.type = 'text/plain'), (ctx.body = '500 Internal Server Error\n\nServer got itself in trouble')),
      nginx: (ctx) => void ((ctx.status = 502), (ctx.type = 'text/html'), (ctx.body = '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n')),
      traefik: (ctx) => void ((ctx.status = 502), (ctx.type = 'text/plain'), (ctx.body = 'Bad Gateway')),
      express: (ctx) => void ((ctx.status = 500), (ctx.type = 'text/html'), (ctx.body = '<!DOCTYPE html><html><body><pre>Internal Server Error</pre></body></html>')),
      untyped: (ctx) => {
        ctx.respond = false;
        ctx.res.writeHead(500);
        ctx.res.end('<!doctype html><title>Error</title>');
      },
      empty: (ctx) => void ((ctx.status = 503), (ctx.body = '')),
      proxy: (ctx) => void ((ctx.status = 503), ctx.set('Proxy-Status', 'haproxy; error=connection_refused'), (ctx.type = 'text/plain'), (ctx.body = 'no server is available')),
      spring: (ctx) => void ((ctx.status = 500), (ctx.body = { timestamp: '2026-11-29T16:40:00.000+00:00', status: 500, error: 'Internal Server Error', path: '/onMessage' })),
      fastify: (ctx) => void ((ctx.status = 500), (ctx.body = { statusCode: 500, error: 'Internal Server Error', message: "Cannot read properties of undefined (reading 'id')" })),
      apigateway: (ctx) => void ((ctx.status = 500), ctx.set('x-amzn-ErrorType', 'InternalServerErrorException'), (ctx.type = 'application/json'), (ctx.body = '{"message": "Internal server error"}')),
      unavailable: (ctx) => void ((ctx.status = 503), (ctx.body = { message: 'Service Unavailable' })),
      envoy: (ctx) => void ((ctx.status = 503), ctx.set('Server', 'envoy'), (ctx.type = 'text/plain'), (ctx.body = 'no healthy upstream')),
      istio: (ctx) => void ((ctx.status = 503), (ctx.type = 'text/plain'), (ctx.body = 'upstream connect error or disconnect/reset before headers. reset reason: connection failure')),
      deliberate: (ctx) => void ((ctx.status = 503), (ctx.type = 'text/plain'), (ctx.body = 'Quotas are being recounted; back in 5 minutes.')),
      json: (ctx) => void ((ctx.status = 500), (ctx.body = { error: 'quota service down' })),
    };
    hooks.on('onMessage', (ctx, body) => {
      const answer = answers[(body.message.text as string).slice(6)];
      if (answer) answer(ctx);
      else ctx.status = 204;
    });
    const cases = Object.keys(answers);
    for (const [i, name] of cases.entries()) {
      await say(`/echo ${name}`);
      await seen(i + 1);
    }
    expect(await seen(cases.length)).toEqual([
      ...['koa', 'aiohttp', 'nginx', 'traefik', 'express', 'untyped', 'empty', 'proxy', 'spring', 'fastify', 'apigateway', 'unavailable', 'envoy', 'istio'].map(text),
      text('Quotas are being recounted; back in 5 minutes.'),
      text('{"error":"quota service down"}'),
    ]);
    expect(logs.filter((l) => l.msg === 'callback failed').map((l) => l.err)).toEqual([
      'HTTP 500: only its status text; not shown to the user',
      'HTTP 500: only its status text; not shown to the user',
      "HTTP 502: a gateway's error; not shown to the user",
      "HTTP 502: a gateway's error; not shown to the user",
      'HTTP 500: an HTML page; not shown to the user',
      'HTTP 500: an HTML page; not shown to the user',
      'HTTP 503: an empty body; not shown to the user',
      "HTTP 503: a proxy's error (Proxy-Status); not shown to the user",
      "HTTP 500: a framework's JSON error; not shown to the user",
      "HTTP 500: a framework's JSON error; not shown to the user",
      "HTTP 500: a framework's JSON error; not shown to the user",
      "HTTP 503: a framework's JSON error; not shown to the user",
      "HTTP 503: a proxy's error (Envoy); not shown to the user",
      "HTTP 503: a proxy's error (Envoy); not shown to the user",
    ]);

    // under onError: reject the user sees the stage's errorMessage instead of the page
    hooks.on('onPreSend', answers.nginx!);
    await say('/echo again');
    expect((await seen(cases.length + 1)).at(-1)).toEqual(text('Try again later'));
  });

  it('serverErrors: fail makes every 5xx a failed call, a deliberate one included', async () => {
    const { hooks, say, seen, logs } = await setup({ onMessage: { serverErrors: 'fail' } });
    hooks.on('onMessage', (ctx) => void ((ctx.status = 503), (ctx.type = 'text/plain'), (ctx.body = 'Quotas are being recounted.')));
    await say('/ping');
    expect(await seen(1)).toEqual([text('pong')]);
    expect(logs.find((l) => l.msg === 'callback failed')!.err).toBe('HTTP 503: serverErrors is fail; not shown to the user');
  });

  it('a slow callback hits its timeout: continue by default, reject shows the error message', async () => {
    const { hooks, say, seen, logs } = await setup({ onMessage: { timeout: '100ms' }, onPreSend: { timeout: '100ms', onError: 'reject', errorMessage: 'Busy, try later' } });
    let slowStage = 'onMessage';
    hooks.on('onMessage', async (ctx) => {
      if (slowStage === 'onMessage') await sleep(400);
      ctx.status = 204;
    });
    hooks.on('onPreSend', async (ctx) => {
      if (slowStage === 'onPreSend') await sleep(400);
      ctx.status = 204;
    });
    await say('/ping');
    expect(await seen(1)).toEqual([text('pong')]);
    slowStage = 'onPreSend';
    await say('/ping');
    expect(await seen(2)).toEqual([text('pong'), text('Busy, try later')]);
    expect(logs.filter((l) => l.msg === 'callback failed').map((l) => [l.stage, l.err, l.policy])).toEqual([
      ['onMessage', 'no reply within 100 ms', 'continue'],
      ['onPreSend', 'no reply within 100 ms', 'reject'],
    ]);
    expect(await runtime!.metrics.value('switchboard_callback_calls_total', { stage: 'onMessage', outcome: 'timeout' })).toBe(1);
  });

  it('with every callback hanging, each user is answered within the message\'s callback budget (by default the largest timeout + 1s)', async () => {
    const { hooks, url, logs } = await setup({ onMessage: { timeout: '1s' }, onPreSend: { timeout: '1s' }, onResult: { timeout: '1s' } });
    expect(runtime!.config.callbacks.budget).toBe(2000);
    const hang = new Promise<void>(() => {}); // answered never; the server's stop closes the connections
    for (const stage of ['onMessage', 'onPreSend', 'onResult']) hooks.on(stage, () => hang);
    const api = `${url}/sandbox/sandbox/api`;
    const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
    await Promise.all(
      users.map((user) => fetch(`${api}/messages`, { method: 'POST', body: JSON.stringify({ user: { id: user, name: user }, chat: { id: `dm:${user}`, type: 'direct' }, text: '/ping' }) })),
    );
    // The wait each user saw: from their message to the bot's answer, both stamped by the sandbox.
    const waits = await Promise.all(
      users.map((user) =>
        waitFor(async () => {
          const { messages } = (await (await fetch(`${api}/chats/dm:${user}/messages`)).json()) as { messages: ChatMessage[] };
          const [asked, answer] = messages;
          return answer && (expect(answer.segments).toEqual(text('pong')), answer.timestamp - asked!.timestamp);
        }, 6000, `the answer to ${user}`),
      ),
    );
    // Three stages of 1s each would be 3s; the budget ends it at 2s (plus the sending).
    for (const wait of waits) expect(wait).toBeGreaterThanOrEqual(1900);
    for (const wait of waits) expect(wait).toBeLessThan(2600);
    const lines = (stage: string) => logs.filter((l) => l.stage === stage && l.msg.startsWith('callback'));
    expect(lines('onMessage').map((l) => l.err)).toEqual(users.map(() => 'no reply within 1000 ms'));
    // onPreSend's own timeout and what is left of the budget end at the same moment: either may be first
    for (const l of lines('onPreSend')) expect(["no reply before the message's callback budget ran out", 'no reply within 1000 ms']).toContain(l.err);
    expect(lines('onResult').map((l) => l.msg)).toEqual(users.map(() => "callback skipped: the message's callback budget is spent"));
    expect(hooks.stages().filter((stage) => stage === 'onResult')).toEqual([]);
  }, 15_000);

  it('a stage the budget has no time left for is not called, and its onError applies', async () => {
    const { hooks, say, seen, logs } = await setup({ onMessage: { timeout: '2s' }, onPreSend: { onError: 'reject', errorMessage: 'Too slow today' }, budget: '300ms' });
    hooks.on('onMessage', () => new Promise<void>(() => {}));
    await say('/ping');
    expect(await seen(1)).toEqual([text('Too slow today')]);
    expect(hooks.stages()).toEqual(['onMessage']);
    expect(logs.filter((l) => l.msg.startsWith('callback')).map((l) => [l.stage, l.msg, l.err, l.policy])).toEqual([
      ['onMessage', 'callback failed', "no reply before the message's callback budget ran out", 'continue'],
      ['onPreSend', "callback skipped: the message's callback budget is spent", undefined, 'reject'],
    ]);
  });

  it('a refused connection follows onError', async () => {
    hooks = await new CallbackServer().start();
    const dead = hooks.url;
    await hooks.stop();
    const started = await startRuntime(`platforms: [{ id: sandbox, type: sandbox }]\ncallbacks:\n  onMessage: { url: "${dead}/x", onError: reject, errorMessage: "Down for maintenance" }\n`);
    runtime = started.runtime;
    await fetch(`${started.url}/sandbox/sandbox/api/messages`, { method: 'POST', body: JSON.stringify({ user: { id: 'a', name: 'A' }, chat: { id: 'dm:a', type: 'direct' }, text: '/ping' }) });
    const replies = await waitFor(async () => {
      const { messages } = (await (await fetch(`${started.url}/sandbox/sandbox/api/chats/dm:a/messages`)).json()) as { messages: ChatMessage[] };
      return messages.length >= 2 && messages;
    });
    expect(replies[1]!.segments).toEqual(text('Down for maintenance'));
    expect(started.logs.find((l) => l.msg === 'callback failed')!.err).toMatch(/ECONNREFUSED/);
  });

  it('an oversized reply, a malformed JSON reply and a schema-breaking merge are callback errors', async () => {
    const { hooks, say, seen, logs } = await setup({ onMessage: { maxResponseSize: '1kb' }, onPreSend: 'onPreSend', onResult: { onError: 'reject', errorMessage: 'bad merge' } });
    hooks.on('onMessage', (ctx) => {
      ctx.type = 'text/plain';
      ctx.body = 'x'.repeat(4096);
    });
    hooks.on('onPreSend', (ctx) => {
      ctx.type = 'application/json';
      ctx.body = '{"route": ';
    });
    hooks.on('onResult', (ctx) => {
      ctx.body = { replies: 'not a list' };
    });
    await say('/ping');
    expect(await seen(1)).toEqual([text('bad merge')]);
    expect(logs.filter((l) => l.msg === 'callback failed').map((l) => l.err)).toEqual([
      'reply body of 4096 bytes is over the 1024-byte limit',
      'reply says application/json but its body is not valid JSON',
      expect.stringMatching(/^merged result is invalid at replies: /),
    ]);
  });

  it('retries a failing onSent in the background, bounded, and sends its extra content', async () => {
    const { hooks, say, seen } = await setup({ onSent: { retries: 3, retryDelay: '50ms' } });
    let calls = 0;
    hooks.on('onSent', (ctx) => {
      calls++;
      if (calls <= 2) {
        ctx.status = 503;
        return;
      }
      ctx.type = 'text/plain';
      ctx.body = 'thanks for chatting';
    });
    await say('/ping');
    expect(await seen(1)).toEqual([text('pong')]);
    expect(await seen(2)).toEqual([text('pong'), text('thanks for chatting')]);
    expect(calls).toBe(3);
    expect(new Set(hooks.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
  }, 15_000);

  it('gives up on an onSent that keeps failing after `retries`, each try signed afresh under one webhook-id; a reply over the size limit is not retried', async () => {
    const { hooks, say, seen, logs } = await setup({ onSent: { retries: 2, retryDelay: '10ms', secret, maxResponseSize: '1kb' } });
    hooks.on('onSent', (ctx) => void (ctx.status = 502));
    await say('/ping');
    expect(await seen(1)).toEqual([text('pong')]);
    const gaveUp = await waitFor(() => logs.find((l) => l.msg === 'callback failed'), 3000, 'the last failure');
    expect(gaveUp.err).toBe('HTTP 502');
    expect(hooks.received).toHaveLength(3);
    expect(logs.filter((l) => l.msg === 'callback failed; retrying').map((l) => l.attempt)).toEqual([1, 2]);
    expect(new Set(hooks.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    for (const r of hooks.received) expect(() => new Webhook(secret).verify(r.raw, r.headers)).not.toThrow();

    hooks.received.length = 0;
    hooks.on('onSent', (ctx) => {
      ctx.type = 'text/plain';
      ctx.body = 'x'.repeat(4096);
    });
    const before = logs.filter((l) => l.msg === 'callback failed').length;
    await say('/ping');
    await waitFor(() => logs.filter((l) => l.msg === 'callback failed').length > before, 3000, 'the refused reply');
    expect(hooks.received).toHaveLength(1);
  });

  it('only calls a stage for the platforms it names', async () => {
    const { hooks, say, seen } = await setup({ onMessage: { platforms: ['other'] } });
    await say('/ping');
    expect(await seen(1)).toEqual([text('pong')]);
    expect(hooks.received).toEqual([]);
  });
});
