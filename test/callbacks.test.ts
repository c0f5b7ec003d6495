// Lifecycle callbacks, what an answer does: every stage called in order with one signed payload,
// a 403 that blocks, JSON that re-routes a request or patches its data (koipy's whole-payload
// answers too), an empty body, image/text/file answers, a >= 400 with an image, and the platforms
// a stage is limited to. Failing callbacks are in callback-failures.test.ts.

import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { defineBot } from '../src/bot/bot.js';
import { all, png, secret, text, useCallbackSandbox } from './callback-sandbox.js';
import { sleep, waitFor } from './helpers.js';

const { setup } = useCallbackSandbox();

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

  it('only calls a stage for the platforms it names', async () => {
    const { hooks, say, seen } = await setup({ onMessage: { platforms: ['other'] } });
    await say('/ping');
    expect(await seen(1)).toEqual([text('pong')]);
    expect(hooks.received).toEqual([]);
  });

  it('calls onSent (which no budget bounds) for many chats at once without a listener warning', async () => {
    const { hooks, url } = await setup({ onSent: 'onSent' });
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      let held = 0;
      let release!: () => void;
      const allHeld = new Promise<void>((resolve) => (release = resolve));
      const chats = 16;
      // Each call waits until all are under way: they are in flight together.
      hooks.on('onSent', async () => {
        if (++held === chats) release();
        await allHeld;
      });
      const api = `${url}/sandbox/sandbox/api`;
      for (let i = 0; i < chats; i++) {
        const res = await fetch(`${api}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { id: `u${i}`, name: 'U' }, chat: { id: `dm:u${i}`, type: 'direct' }, text: '/ping' }) });
        expect(res.status).toBe(202);
      }
      await allHeld;
      await waitFor(() => hooks.received.length === chats, 4000, 'every onSent answered');
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
