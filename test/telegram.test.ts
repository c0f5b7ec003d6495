import { afterEach, describe, expect, it } from 'vitest';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { sleep, startRuntime, waitFor, type LogLine } from './helpers.js';

const jpeg = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex');
const secret = 'hook-secret_123';

let runtime: Runtime | undefined;
let fake: FakeTelegram | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  runtime = fake = undefined;
});

async function telegram(options: { mode?: 'polling' | 'webhook'; bot?: Bot; extra?: string; yaml?: string } = {}) {
  fake = new FakeTelegram();
  await fake.start();
  const mode = options.mode ?? 'polling';
  const yaml = [
    'platforms:',
    `  - { id: tg, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}", mode: ${mode}, pollTimeout: 1${mode === 'webhook' ? `, secretToken: ${secret}` : ''}${options.extra ?? ''} }`,
    options.yaml ?? '',
  ].join('\n');
  const started = await startRuntime(yaml, { bot: options.bot });
  runtime = started.runtime;
  const f = fake;
  const sentTexts = () => f.sent().map((c) => c.params.text ?? `[${c.method}]`);
  const webhook = (update: object, opts?: { secret?: string | null; rawBody?: string }) =>
    fetch(`${started.url}/webhooks/tg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(opts?.secret === null ? {} : { 'x-telegram-bot-api-secret-token': opts?.secret ?? secret }) },
      body: opts?.rawBody ?? JSON.stringify(update),
    });
  return { fake: f, url: started.url, logs: started.logs, sentTexts, webhook };
}

function update(text: string, extra: Record<string, unknown> = {}, update_id?: number) {
  return {
    update_id: update_id ?? Math.floor(Math.random() * 1e9),
    message: { message_id: 7, date: 1_700_000_000, chat: { id: 42, type: 'private', first_name: 'Alice' }, from: { id: 42, is_bot: false, first_name: 'Alice', username: 'alice' }, text, ...extra },
  };
}

const sentTo = (fake: FakeTelegram, count: number) => waitFor(() => fake.sent().length >= count && fake.sent(), 4000, `${count} sends`);

describe('telegram: long polling', () => {
  it('answers /ping, /echo and text through the real SDK, quoting the message', async () => {
    const { fake, sentTexts } = await telegram();
    fake.pushMessage({ text: '/ping' });
    fake.pushMessage({ text: '/echo hello <b>world</b>' });
    fake.pushMessage({ text: 'plain words' });
    const sent = await sentTo(fake, 3);
    expect(sentTexts()).toEqual(['pong', 'hello &lt;b&gt;world&lt;/b&gt;', 'plain words']);
    expect(sent[0]!.params).toMatchObject({ chat_id: '42', parse_mode: 'HTML' });
    expect(JSON.parse(sent[0]!.params.reply_parameters!)).toMatchObject({ message_id: expect.any(Number) });
    expect(fake.getUpdatesConcurrencyPeak).toBe(1);
  });

  it('routes /cmd@ourbot, ignores /cmd@otherbot as a command, and sees @mentions in groups', async () => {
    const seen: { text: string; mentionsBot: boolean; channel: string; content: unknown[] }[] = [];
    const bot = defineBot((b) => {
      b.command('ping', () => 'pong');
      b.on('message', (ctx) => void seen.push({ text: ctx.text, mentionsBot: ctx.message.mentionsBot, channel: ctx.message.channel.type, content: ctx.message.content }));
    });
    const { fake, sentTexts } = await telegram({ bot });
    const group = { id: -100, type: 'supergroup', title: 'Team' };
    fake.pushMessage({ text: '/ping@switchboard_bot', chat: group, entities: [{ type: 'bot_command', offset: 0, length: 21 }] });
    fake.pushMessage({ text: '/ping@other_bot', chat: group });
    fake.pushMessage({ text: 'hey @switchboard_bot look', chat: group, entities: [{ type: 'mention', offset: 4, length: 16 }] });
    await waitFor(() => seen.length === 2);
    expect(sentTexts()).toEqual(['pong']);
    expect(seen[0]).toMatchObject({ text: '/ping@other_bot', mentionsBot: false, channel: 'group' });
    expect(seen[1]).toEqual({
      text: 'hey @switchboard_bot look',
      mentionsBot: true,
      channel: 'group',
      content: [{ type: 'text', text: 'hey ' }, { type: 'mention', userId: '999', name: 'switchboard_bot' }, { type: 'text', text: ' look' }],
    });
  });

  it('echoes a photo with the file_id it came with, and exposes its bytes through a media URL, never the token', async () => {
    let imageUrl = '';
    const bot = defineBot((b) =>
      b.on('message', (ctx) => {
        const image = ctx.message.content.find((s) => s.type === 'image');
        if (image && 'url' in image) imageUrl = image.url!;
        ctx.reply(ctx.message.content.filter((s) => s.type === 'image'));
      }),
    );
    const { fake } = await telegram({ bot });
    fake.addFile('small-id', Buffer.from('small'), 'photos/small.jpg');
    fake.addFile('big-id', jpeg, 'photos/big.jpg');
    fake.pushMessage({ photo: [{ file_id: 'small-id', file_unique_id: 's', width: 90, height: 90 }, { file_id: 'big-id', file_unique_id: 'b', width: 800, height: 600 }] });
    const [sent] = await sentTo(fake, 1);
    expect(sent!.method).toBe('sendPhoto');
    expect(sent!.params.photo).toBe('big-id');
    expect(imageUrl).not.toContain(fake.token);
    const fetched = await fetch(imageUrl);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(jpeg)).toBe(true);
  });

  it('uploads bytes the bot made as multipart, sends documents, and shows buttons as an inline keyboard', async () => {
    const bot = defineBot((b) =>
      b.on('message', (ctx) =>
        ctx.reply([
          { type: 'image', data: jpeg, mime: 'image/jpeg', name: 'made.jpg' },
          { type: 'file', data: Buffer.from('a,b\n'), mime: 'text/csv', name: 'report.csv' },
          { type: 'text', text: 'Pick one' },
          { type: 'buttons', rows: [[{ label: 'Yes', value: 'yes' }, { label: 'Docs', url: 'https://example.com/docs' }]] },
        ]),
      ),
    );
    const { fake } = await telegram({ bot });
    fake.pushMessage({ text: 'go' });
    const sent = await sentTo(fake, 3);
    expect(sent.map((c) => c.method)).toEqual(['sendPhoto', 'sendDocument', 'sendMessage']);
    expect(sent[0]!.files.photo).toMatchObject({ filename: 'made.jpg', contentType: 'image/jpeg' });
    expect(sent[0]!.files.photo!.data.equals(jpeg)).toBe(true);
    expect(sent[1]!.files.document).toMatchObject({ filename: 'report.csv' });
    expect(JSON.parse(sent[2]!.params.reply_markup!)).toEqual({ inline_keyboard: [[{ text: 'Yes', callback_data: 'yes' }, { text: 'Docs', url: 'https://example.com/docs' }]] });
    // only the first message of the reply quotes the user
    expect(sent[0]!.params.reply_parameters).toBeDefined();
    expect(sent[1]!.params.reply_parameters).toBeUndefined();
  });

  it('turns a pressed button into a message with its value', async () => {
    const { fake, sentTexts } = await telegram();
    fake.pushUpdate({ callback_query: { id: 'cb1', from: { id: 42, is_bot: false, first_name: 'Alice' }, chat_instance: 'x', data: 'yes please', message: { message_id: 5, date: 1, chat: { id: 42, type: 'private' } } } } as never);
    await sentTo(fake, 1);
    expect(sentTexts()).toEqual(['yes please']);
    await fake.waitForCall('answerCallbackQuery');
  });

  it('reports a 409 conflict clearly and backs off instead of spinning, then recovers', async () => {
    const { fake, logs, sentTexts } = await telegram();
    await fake.waitForCall('getUpdates');
    fake.conflict(true);
    await waitFor(() => logs.filter((l) => l.msg === 'connection lost; reconnecting').length >= 2, 6000);
    const lost = logs.filter((l: LogLine) => l.msg === 'connection lost; reconnecting');
    expect(lost[0]!.err).toMatch(/409 Conflict: another process is polling with this bot token/);
    const before = fake.calls.filter((c) => c.method === 'getUpdates').length;
    await sleep(300);
    expect(fake.calls.filter((c) => c.method === 'getUpdates').length - before).toBeLessThanOrEqual(1);
    fake.conflict(false);
    fake.pushMessage({ text: '/ping' });
    await waitFor(() => sentTexts().includes('pong'), 8000);
  }, 15_000);

  it('restarts a stalled long poll and keeps answering', async () => {
    const { fake, logs, sentTexts } = await telegram({ extra: ', stallGrace: 300ms' });
    await fake.waitForCall('getUpdates');
    fake.stallGetUpdates(true);
    await waitFor(() => logs.find((l) => l.msg === 'connection lost; reconnecting' && String(l.err).startsWith('stalled')), 6000);
    fake.stallGetUpdates(false);
    fake.pushMessage({ text: '/ping' });
    await waitFor(() => sentTexts().includes('pong'), 6000);
  }, 15_000);

  it('recovers by itself from server errors, backing off with jitter', async () => {
    const { fake, logs, sentTexts } = await telegram();
    await fake.waitForCall('getUpdates');
    fake.failNext('getUpdates', { error_code: 502, description: 'Bad Gateway' }, 2);
    const lost = await waitFor(() => {
      const lines = logs.filter((l) => l.msg === 'connection lost; reconnecting');
      return lines.length >= 2 && lines;
    }, 6000);
    expect(lost.map((l) => l.attempt)).toEqual([1, 2]);
    expect(lost[1]!.retryInMs as number).toBeGreaterThan(lost[0]!.retryInMs as number);
    fake.pushMessage({ text: '/ping' });
    await waitFor(() => sentTexts().includes('pong'), 8000);
  }, 10_000);

  it('shows the connection on /healthz: up once polling answers, retrying while the Bot API fails, up again after', async () => {
    const { fake, url } = await telegram();
    const health = async () => (await (await fetch(`${url}/healthz`)).json()) as { status: string; platforms: { id: string; type: string; connection?: string }[] };
    await waitFor(async () => (await health()).status === 'ok', 4000, 'the connection to come up');
    expect((await health()).platforms).toEqual([{ id: 'tg', type: 'telegram', connection: 'up', held: true }]);
    fake.failNext('getUpdates', { error_code: 502, description: 'Bad Gateway' }, 2);
    const down = await waitFor(async () => {
      const h = await health();
      return h.status === 'degraded' && h;
    }, 4000, 'the outage to show');
    expect(down.platforms[0]!.connection).toBe('retrying');
    await waitFor(async () => (await health()).status === 'ok', 8000, 'the recovery to show');
  }, 15_000);

  it('never doubles replies after the adapter is stopped and started again', async () => {
    const { fake, sentTexts } = await telegram();
    await fake.waitForCall('getUpdates');
    await runtime!.restartPlatform('tg');
    await runtime!.restartPlatform('tg');
    fake.pushMessage({ text: '/ping' });
    await waitFor(() => sentTexts().includes('pong'));
    await sleep(300);
    expect(sentTexts()).toEqual(['pong']);
    expect(fake.getUpdatesConcurrencyPeak).toBe(1);
  });

  it('skips an update it cannot read (a null callback_query), logged, and polls on past it', async () => {
    const { fake, logs, sentTexts } = await telegram();
    fake.pushUpdate({ callback_query: null } as never);
    fake.pushMessage({ text: '/ping' });
    await sentTo(fake, 1);
    expect(sentTexts()).toEqual(['pong']);
    expect(logs.find((l) => l.msg === 'could not read a Telegram update; skipped')).toMatchObject({ level: 50, platform: 'telegram' });
    expect(logs.filter((l) => l.msg === 'connection lost; reconnecting')).toEqual([]);
  });

  it('logs a throwing handler and keeps polling', async () => {
    const bot = defineBot((b) => {
      b.command('boom', () => {
        throw new Error('kaboom');
      });
      b.command('ping', () => 'pong');
    });
    const { fake, logs, sentTexts } = await telegram({ bot });
    fake.pushMessage({ text: '/boom' });
    fake.pushMessage({ text: '/ping' });
    await waitFor(() => sentTexts().includes('pong'));
    expect(logs.find((l) => l.msg === 'handler threw; no reply sent')).toMatchObject({ platform: 'telegram', bot: 'tg', chat: '42' });
  });
});

describe('telegram: webhook', () => {
  it('answers an update posted with the right secret', async () => {
    const { fake, webhook, sentTexts } = await telegram({ mode: 'webhook' });
    const res = await webhook(update('/echo via webhook'));
    expect(res.status).toBe(200);
    await sentTo(fake, 1);
    expect(sentTexts()).toEqual(['via webhook']);
  });

  it('refuses a forged or missing secret token with 401 and does not process it', async () => {
    const { fake, webhook } = await telegram({ mode: 'webhook' });
    expect((await webhook(update('/ping'), { secret: 'wrong' })).status).toBe(401);
    expect((await webhook(update('/ping'), { secret: null })).status).toBe(401);
    await sleep(100);
    expect(fake.sent()).toEqual([]);
  });

  it('consumes an authenticated request it cannot read (oversized, not JSON, not an update, a null callback_query): 200, logged, nothing handled', async () => {
    // Telegram sends anything but a 2xx again, forever, and holds back the updates behind it.
    const { fake, webhook, logs, sentTexts } = await telegram({ mode: 'webhook' });
    const answers = [
      await webhook({}, { rawBody: JSON.stringify(update('x'.repeat(2 * 1024 * 1024))) }),
      await webhook({}, { rawBody: '{"update_id": 1, "message": ' }),
      await webhook({ hello: 'world' }),
      await webhook({}, { rawBody: '{"update_id":1,"callback_query":null}' }),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(await Promise.all(answers.map((r) => r.text()))).toEqual(['', '', '', '']);
    const consumed = logs.filter((l) => l.level === 50 && l.platform === 'telegram' && /answered as delivered|could not read a Telegram update/.test(l.msg));
    expect(consumed.map((l) => (l.err as { message: string }).message)).toEqual([
      `request body is larger than ${1024 * 1024} bytes`,
      'request body is not valid JSON',
      'not a Telegram update: update_id (integer) is required',
      expect.stringContaining('null'),
    ]);
    // Without the secret it is still refused, whatever the body.
    expect((await webhook({}, { rawBody: '{"update_id": 1, "message": ', secret: 'wrong' })).status).toBe(401);
    // None was handled (the echo bot would have answered); the next update is, as usual.
    expect((await webhook(update('/ping'))).status).toBe(200);
    await sentTo(fake, 1);
    await sleep(100);
    expect(sentTexts()).toEqual(['pong']);
  });

  it('handles a repeated update_id once', async () => {
    const { fake, webhook, sentTexts } = await telegram({ mode: 'webhook' });
    const once = update('/ping', {}, 555);
    expect((await webhook(once)).status).toBe(200);
    expect((await webhook(once)).status).toBe(200);
    await sentTo(fake, 1);
    await sleep(200);
    expect(sentTexts()).toEqual(['pong']);
  });

  it('registers the webhook with its secret when publicUrl is set, and the fake delivers through it', async () => {
    fake = new FakeTelegram();
    await fake.start();
    const started = await startRuntime(`server: { host: 127.0.0.1, port: 0 }\nplatforms:\n  - { id: tg, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}", mode: webhook, secretToken: ${secret}, publicUrl: "http://127.0.0.1:1" }`);
    runtime = started.runtime;
    expect(fake.webhook).toEqual({ url: 'http://127.0.0.1:1/webhooks/tg', secret_token: secret });
    fake.webhook = { url: `${started.url}/webhooks/tg`, secret_token: secret };
    const answer = await fake.deliverWebhook(update('/ping'));
    expect(answer.status).toBe(200);
    await sentTo(fake, 1);
  });
});


describe('telegram: lifecycle callbacks', () => {
  it('a 403 at onMessage blocks the user on Telegram; a 200 image at onResult is uploaded after the reply', async () => {
    const { CallbackServer } = await import('./fakes/callback-server.js');
    const hooks = await new CallbackServer().start();
    try {
      hooks.on('onMessage', (ctx, body) => {
        if (body.message.author.username !== 'mallory') return void (ctx.status = 204);
        ctx.status = 403;
        ctx.body = 'You are blocked.';
      });
      hooks.on('onResult', (ctx) => {
        ctx.type = 'image/jpeg';
        ctx.body = jpeg;
      });
      const { fake } = await telegram({ yaml: `callbacks:\n  onMessage: ${hooks.url}/onMessage\n  onResult: ${hooks.url}/onResult\n` });
      fake.pushMessage({ text: '/ping', from: { id: 7, is_bot: false, first_name: 'Mallory', username: 'mallory' }, chat: { id: 7, type: 'private' } });
      fake.pushMessage({ text: '/ping' });
      const sent = await sentTo(fake, 3);
      expect(sent.map((c) => [c.method, c.params.chat_id, c.params.text])).toEqual([
        ['sendMessage', '7', 'You are blocked.'],
        ['sendMessage', '42', 'pong'],
        ['sendPhoto', '42', undefined],
      ]);
      expect(sent[2]!.files.photo!.data.equals(jpeg)).toBe(true);
      expect(hooks.received.find((r) => r.stage === 'onMessage')!.body.bot).toEqual({ id: 'tg', type: 'telegram', selfId: '999' });
      expect(hooks.received.some((r) => r.raw.includes(fake.token))).toBe(false);
    } finally {
      await hooks.stop();
    }
  });

  it('sends an image given by URL as that URL, for Telegram to fetch', async () => {
    const bot = defineBot((b) => b.on('message', (ctx) => ctx.reply({ type: 'image', url: 'https://example.com/cat.jpg' })));
    const { fake } = await telegram({ bot });
    fake.pushMessage({ text: 'cat please' });
    const [sent] = await sentTo(fake, 1);
    expect(sent).toMatchObject({ method: 'sendPhoto', params: { photo: 'https://example.com/cat.jpg' } });
  });
});

describe('telegram: through a proxy', () => {
  it('sends every Bot API call and file download through the configured proxy, password kept out of the logs', async () => {
    const { FakeProxy } = await import('./fakes/proxy.js');
    const proxy = await new FakeProxy({ user: 'op', password: 's3cret-pass' }).start();
    try {
      const bot = defineBot((b) => b.on('message', async (ctx) => {
        const image = ctx.message.content.find((s) => s.type === 'image');
        if (image && image.type === 'image') ctx.reply(`got ${(await ctx.download(image)).data.length} bytes`);
      }));
      const { fake, logs } = await telegram({ bot, extra: `, proxy: "${proxy.url}"` });
      fake.addFile('p1', jpeg, 'photos/p1.jpg');
      fake.pushMessage({ photo: [{ file_id: 'p1', file_unique_id: 'u', width: 10, height: 10 }] });
      await sentTo(fake, 1);
      expect(fake.sent()[0]!.params.text).toBe(`got ${jpeg.length} bytes`);
      const target = new URL(fake.url).host;
      expect(proxy.tunnels.length).toBeGreaterThan(0);
      expect(proxy.tunnels.every((t) => t.target === target && t.auth === `Basic ${Buffer.from('op:s3cret-pass').toString('base64')}`)).toBe(true);
      expect(logs.find((l) => l.msg === 'Telegram traffic goes through a proxy')!.proxy).not.toContain('s3cret-pass');
      expect(JSON.stringify(logs)).not.toContain('s3cret-pass');
    } finally {
      await proxy.stop();
    }
  });

  it('goes through a SOCKS5 proxy just the same, authenticating with the user and password in its URL', async () => {
    const { FakeSocksProxy } = await import('./fakes/proxy.js');
    const proxy = await new FakeSocksProxy({ user: 'op', password: 's0cks-pass' }).start();
    try {
      const { fake, logs } = await telegram({ extra: `, proxy: "${proxy.url}"` });
      fake.pushMessage({ text: '/ping' });
      await sentTo(fake, 1);
      expect(fake.sent()[0]!.params.text).toBe('pong');
      const target = new URL(fake.url).host;
      expect(proxy.tunnels.length).toBeGreaterThan(0);
      expect(proxy.tunnels.every((t) => t.target === target && t.user === 'op')).toBe(true);
      expect(JSON.stringify(logs)).not.toContain('s0cks-pass');
    } finally {
      await proxy.stop();
    }
  });
});

describe('telegram: what a message carries', () => {
  it('normalizes a document with its caption as a file, and a reply as a quote of the original', async () => {
    const seen: unknown[] = [];
    const bot = defineBot((b) => b.on('message', (ctx) => void seen.push({ content: ctx.message.content, replyTo: ctx.message.replyTo, text: ctx.text })));
    const { fake } = await telegram({ bot });
    fake.addFile('doc1', Buffer.from('a,b'), 'documents/r.csv');
    fake.pushMessage({ caption: 'the report', document: { file_id: 'doc1', file_unique_id: 'd', file_name: 'r.csv', mime_type: 'text/csv' }, reply_to_message: { message_id: 3, date: 1, chat: { id: 42, type: 'private' }, text: 'send it' } });
    await waitFor(() => seen.length === 1);
    expect(seen[0]).toEqual({
      content: [{ type: 'quote', messageId: '3' }, { type: 'text', text: 'the report' }, { type: 'file', url: expect.stringMatching(/\/media\//), mime: 'text/csv', name: 'r.csv' }],
      replyTo: '3',
      text: 'the report',
    });
  });
});
