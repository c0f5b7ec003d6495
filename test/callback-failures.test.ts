// Lifecycle callbacks that fail: a redirect ignored, a 5xx from a crash or a proxy (and
// serverErrors: fail), timeouts, the message's callback budget, a refused connection, oversized or
// malformed replies, and onSent's retries until it gives up. What an answer does is in callbacks.test.ts.

import type { Context } from 'koa';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../adapters/sandbox/chats.js';
import { secret, text, useCallbackSandbox } from './callback-sandbox.js';
import { CallbackServer } from './fakes/callback-server.js';
import { startRuntime, waitFor } from './helpers.js';

const { setup, live } = useCallbackSandbox();

describe('lifecycle callbacks that fail', () => {
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
    const { hooks, runtime, say, seen, logs } = await setup({ onMessage: { timeout: '100ms' }, onPreSend: { timeout: '100ms', onError: 'reject', errorMessage: 'Busy, try later' } });
    let slowStage = 'onMessage';
    // The slow stage answers only once Switchboard has given up on it and closed the request.
    const hungUp = (ctx: Context) => new Promise((resolve) => ctx.req.socket.once('close', resolve));
    hooks.on('onMessage', async (ctx) => {
      if (slowStage === 'onMessage') await hungUp(ctx);
      ctx.status = 204;
    });
    hooks.on('onPreSend', async (ctx) => {
      if (slowStage === 'onPreSend') await hungUp(ctx);
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
    expect(await runtime.metrics.value('switchboard_callback_calls_total', { stage: 'onMessage', outcome: 'timeout' })).toBe(1);
  });

  it('with every callback hanging, each user is answered within the message\'s callback budget (by default the largest timeout + 1s)', async () => {
    const { hooks, runtime, url, logs } = await setup({ onMessage: { timeout: '1s' }, onPreSend: { timeout: '1s' }, onResult: { timeout: '1s' } });
    expect(runtime.config.callbacks.budget).toBe(2000);
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
    live.hooks = await new CallbackServer().start();
    const dead = live.hooks.url;
    await live.hooks.stop();
    const started = await startRuntime(`platforms: [{ id: sandbox, type: sandbox }]\ncallbacks:\n  onMessage: { url: "${dead}/x", onError: reject, errorMessage: "Down for maintenance" }\n`);
    live.runtime = started.runtime;
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
});
