// docs/callbacks.md stays true: the payload schema matches what the runtime sends, the committed
// examples match the schema and a fresh run, and the example callback server does what the docs say.

import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChatMessage, PageSegment } from '../adapters/sandbox/chats.js';
import { createApp } from '../examples/callback-server.js';
import { defineBot, type Bot } from '../src/bot/bot.js';
import { isMedia } from '../src/message.js';
import { payloadOnlyKeys } from '../src/callbacks/payload.js';
import { stageSchemas } from '../src/pipeline/schema.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { CallbackServer, type ReceivedCallback } from './fakes/callback-server.js';
import { startRuntime, waitFor } from './helpers.js';

const stages = ['onMessage', 'onPreSend', 'onResult', 'onSent'] as const;
const docs = new URL('../docs/', import.meta.url);
const schema = JSON.parse(readFileSync(new URL('callback-payload.schema.json', docs), 'utf8')) as object;
// Both packages are CommonJS with `exports.default`; under NodeNext the default import is the module object.
const ajv = new Ajv2020.default({ allErrors: true });
addFormats.default(ajv);
const validate = ajv.compile(schema);
const problems = (payload: unknown) => (validate(payload) ? [] : validate.errors!.map((e) => `${e.instancePath || '(root)'} ${e.message}`));

const secret = `whsec_${Buffer.from('an example secret, 32 bytes long').toString('base64')}`;
const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

let runtime: Runtime | undefined;
let hooks: CallbackServer | undefined;
let example: Server | undefined;
afterEach(async () => {
  await runtime?.stop();
  await hooks?.stop();
  if (example) {
    example.closeAllConnections();
    await new Promise((r) => example!.close(r));
  }
  runtime = hooks = example = undefined;
});

/** The config the docs' examples were made with: every stage at `base`/<stage>, onPreSend in the long form with a secret, a per-user limit. */
const docsConfig = (base: string) => `platforms: [{ id: sandbox, type: sandbox }]
limits: { perUser: { messages: 5, per: 10s } }
callbacks:
  onMessage: ${base}/onMessage
  onPreSend:
    url: ${base}/onPreSend
    timeout: 3s
    secret: \${CALLBACK_SECRET}
    onError: reject
    errorMessage: "Service unavailable, try later"
    platforms: [sandbox]
  onResult: ${base}/onResult
  onSent: ${base}/onSent
`;

/** Starts the runtime on the sandbox; `say` posts as a user, `botSaid` reads what the bot said in a chat. */
async function run(yaml: string, bot?: Bot) {
  const started = await startRuntime(yaml, { bot, env: { CALLBACK_SECRET: secret } });
  runtime = started.runtime;
  const api = `${started.url}/sandbox/sandbox/api`;
  const say = async (user: string, text: string, extra: Record<string, unknown> = {}, chat = `dm:${user}`) => {
    const res = await fetch(`${api}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: { id: user, name: user[0]!.toUpperCase() + user.slice(1) }, chat: { id: chat, type: chat.startsWith('dm:') ? 'direct' : 'group' }, text, ...extra }),
    });
    expect(res.status).toBe(202);
  };
  /** What the bot has said in a chat, once it has said at least `count` messages. */
  const botSaid = (chat: string, count: number) =>
    waitFor(async () => {
      const { messages } = (await (await fetch(`${api}/chats/${chat}/messages`)).json()) as { messages: ChatMessage[] };
      const said = messages.filter((m) => m.from.isBot).map((m) => m.segments);
      return said.length >= count && said;
    }, 4000, `${count} bot messages in ${chat}`);
  return { say, botSaid, logs: started.logs };
}

const bodies = (received: ReceivedCallback[]) => received.map((r) => r.body);

describe('docs/callback-payload.schema.json', () => {
  it('accepts every payload the runtime sends at every stage, media included', async () => {
    const bot = defineBot((b) => {
      b.command('echo <text:rest>', (ctx) => ctx.args.text);
      b.command('blocked', () => 'never shown');
      // one reply with every kind of segment; bytes travel as base64 `data`
      b.command('kinds', () => [
        { type: 'text', text: 'all kinds' },
        { type: 'mention', userId: 'alice', name: 'alice' },
        { type: 'image', data: png, mime: 'image/png', name: 'dot.png' },
        { type: 'audio', data: new Uint8Array([1, 2, 3]), mime: 'audio/ogg' },
        { type: 'video', url: 'https://example.com/clip.mp4' },
        { type: 'file', url: 'https://example.com/a.pdf', mime: 'application/pdf', name: 'a.pdf' },
        { type: 'quote', messageId: 's1' },
        { type: 'link', url: 'https://example.com', text: 'site' },
        { type: 'buttons', rows: [[{ label: 'Yes', value: 'yes' }, { label: 'Docs', url: 'https://example.com/docs' }]] },
        { type: 'unknown', raw: { sticker: 42 } },
      ]);
      b.on('message', (ctx) => {
        const media = ctx.message.content.filter(isMedia);
        ctx.reply(media.length > 0 ? media : ctx.text);
      });
    });
    hooks = await new CallbackServer().start();
    hooks.on('onMessage', (ctx, body) => {
      ctx.status = body.message.text === '/blocked' ? 403 : 204;
      if (ctx.status === 403) ctx.body = 'No.';
    });
    hooks.on('onResult', (ctx, body) => {
      if (body.request.command === 'echo') ctx.body = { data: { points: 5 } };
      else ctx.status = 204;
    });
    const { say, botSaid } = await run(docsConfig(hooks.url), bot);

    await say('alice', '/echo hello');
    await botSaid('dm:alice', 1);
    await say('alice', 'a picture', { attachments: [{ kind: 'image', name: 'dot.png', mime: 'image/png', data: png.toString('base64') }] });
    await botSaid('dm:alice', 2);
    await say('alice', '/kinds');
    await botSaid('dm:alice', 3);
    await say('alice', '/blocked');
    await botSaid('dm:alice', 4);
    await say('bob', '@Switchboard hi', {}, 'group:team');
    await botSaid('group:team', 1);
    // 5 messages x 4 stages, less onPreSend and onResult of the blocked one
    await waitFor(() => hooks!.received.length === 18, 4000, '18 callbacks');

    const payloads = bodies(hooks.received);
    for (const payload of payloads) expect(problems(payload), `${payload.stage} of "${payload.message.text}"`).toEqual([]);
    for (const stage of stages) expect(payloads.filter((p) => p.stage === stage).length).toBeGreaterThanOrEqual(4);
    // the shapes the schema has to cover really were sent
    const picture = payloads.find((p) => p.stage === 'onMessage' && p.message.text === 'a picture')!;
    expect(picture.message.content).toEqual([{ type: 'text', text: 'a picture' }, { type: 'image', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/media\/[\w-]+$/), mime: 'image/png', name: 'dot.png' }]);
    const kinds = payloads.find((p) => p.stage === 'onResult' && p.request.command === 'kinds')!;
    expect(kinds.result.replies[0].content.map((s: { type: string }) => s.type)).toEqual(['text', 'mention', 'image', 'audio', 'video', 'file', 'quote', 'link', 'buttons', 'unknown']);
    expect(kinds.result.replies[0].content[2].data).toBe(png.toString('base64'));
    const blockedSent = payloads.find((p) => p.stage === 'onSent' && p.message.text === '/blocked')!;
    expect(blockedSent).not.toHaveProperty('request');
    expect(blockedSent.delivery).toEqual([{ ok: true, ids: [expect.any(String)], ms: expect.any(Number) }]);
    expect(payloads.find((p) => p.stage === 'onSent' && p.request?.command === 'echo')!.result.data).toEqual({ points: 5 });
    expect(payloads.find((p) => p.message.channel.type === 'group')!.message.content[0]).toEqual({ type: 'mention', userId: 'bot', name: 'Switchboard' });
  });

  it('has top-level keys that no stage\'s data has, so a whole-payload answer cannot be taken for a patch', () => {
    const topLevel = Object.keys((schema as { properties: object }).properties);
    const { message, request, result } = stageSchemas();
    const stageKeys = [message, request, result].flatMap((s) => Object.keys((s as unknown as { shape: object }).shape));
    expect(topLevel.filter((key) => !stageKeys.includes(key)).sort()).toEqual([...payloadOnlyKeys].sort());
  });

  it('rejects payloads that break the documented shape', () => {
    const good = JSON.parse(readFileSync(new URL('examples/onResult.json', docs), 'utf8')) as Record<string, any>;
    const broken = (change: (p: Record<string, any>) => void) => {
      const copy = structuredClone(good);
      change(copy);
      return problems(copy);
    };
    expect(problems(good)).toEqual([]);
    expect(broken((p) => (p.stage = 'onReceive'))).not.toEqual([]);
    expect(broken((p) => delete p.request)).not.toEqual([]);
    expect(broken((p) => (p.delivery = []))).not.toEqual([]); // no delivery before onSent
    expect(broken((p) => (p.limit = { count: 1, max: 5, windowMs: 10_000, resetMs: 10_000, exceeded: false }))).not.toEqual([]); // the count is onMessage's alone
    expect(broken((p) => (p.eventId = 'not-a-uuid'))).not.toEqual([]);
    expect(broken((p) => p.result.replies[0].content.push({ type: 'image', mime: 'image/png' }))).not.toEqual([]); // neither url nor data
    expect(broken((p) => p.result.replies[0].content.push({ type: 'sticker', id: 1 }))).not.toEqual([]);
    expect(broken((p) => p.result.replies[0].content.push({ type: 'text' }))).not.toEqual([]);
    expect(broken((p) => (p.config.callbacks.onPreSend.secret = secret))).not.toEqual([]); // a secret in clear
    expect(broken((p) => (p.message.channel.type = 'room'))).not.toEqual([]);
  });
});

describe('docs/examples', () => {
  /** Ids, clocks, ports and paths differ between runs; everything else must not. */
  const stable = (payload: Record<string, any>) => {
    const copy = structuredClone(payload);
    copy.eventId = copy.timestamp = copy.message.timestamp = copy.config.bot = '*';
    if (copy.config.store.path) copy.config.store.path = '*';
    for (const d of copy.delivery ?? []) d.ms = '*';
    return JSON.parse(JSON.stringify(copy).replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:*')) as unknown;
  };

  it('validate against the schema, one per stage', () => {
    for (const stage of stages) {
      const example = JSON.parse(readFileSync(new URL(`examples/${stage}.json`, docs), 'utf8')) as Record<string, unknown>;
      expect(example.stage).toBe(stage);
      expect(problems(example), stage).toEqual([]);
    }
  });

  it('are what the runtime sends today for "/echo hello"', async () => {
    hooks = await new CallbackServer().start();
    const { say } = await run(docsConfig(hooks.url));
    await say('alice', '/echo hello');
    await waitFor(() => hooks!.received.length === 4, 4000, 'four callbacks');
    for (const received of hooks.received) {
      const example = JSON.parse(readFileSync(new URL(`examples/${received.stage}.json`, docs), 'utf8')) as Record<string, any>;
      expect(stable(received.body), received.stage).toEqual(stable(example));
    }
  });
});

describe('examples/callback-server.ts', () => {
  const text = (t: string): PageSegment[] => [{ type: 'text', text: t }];

  async function startExample(key: string | undefined) {
    example = createApp(key).listen(0, '127.0.0.1');
    await new Promise((r) => example!.once('listening', r));
    return `http://127.0.0.1:${(example.address() as AddressInfo).port}`;
  }

  it('blocks a user, adds an image to /cat and uppercases /echo (answering koipy\'s way), verifying every signature', async () => {
    const base = await startExample(secret);
    const yaml = `platforms: [{ id: sandbox, type: sandbox }]\ncallbacks:\n${stages.map((s) => `  ${s}: { url: "${base}/${s}", secret: "${secret}" }`).join('\n')}\n`;
    const { say, botSaid, logs } = await run(yaml);

    await say('mallory', '/ping');
    expect(await botSaid('dm:mallory', 1)).toEqual([text('You are blocked from using this bot.')]);

    await say('alice', '/echo hi');
    expect(await botSaid('dm:alice', 1)).toEqual([text('HI')]);

    await say('alice', '/cat');
    const [, answer, picture] = await botSaid('dm:alice', 3);
    expect(answer![0]!.type).toBe('text'); // the bot's own answer goes first
    expect(picture).toEqual([{ type: 'image', url: expect.any(String), mime: 'image/png' }]);
    const bytes = Buffer.from(await (await fetch((picture![0] as { url: string }).url)).arrayBuffer());
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

    await say('alice', '/ping');
    expect((await botSaid('dm:alice', 4))[3]).toEqual(text('pong')); // null at onMessage, the payload unchanged at onResult
    expect(await runtime!.metrics.value('switchboard_callback_calls_total', { stage: 'onMessage', outcome: '4xx' })).toBe(1);
    expect(logs.filter((l) => l.msg === 'callback failed')).toEqual([]);
  });

  it('lets a VIP past the per-user limit by answering the whole payload with limit.exceeded false', async () => {
    const base = await startExample(secret);
    const yaml = `platforms: [{ id: sandbox, type: sandbox }]\nlimits: { perUser: { messages: 1, per: 1m } }\ncallbacks:\n${['onMessage', 'onResult'].map((s) => `  ${s}: { url: "${base}/${s}", secret: "${secret}" }`).join('\n')}\n`;
    const { say, botSaid, logs } = await run(yaml);

    await say('vera', '/ping');
    await botSaid('dm:vera', 1);
    await say('vera', '/ping');
    expect(await botSaid('dm:vera', 2)).toEqual([text('pong'), text('pong')]);

    await say('bob', '/ping');
    await botSaid('dm:bob', 1);
    await say('bob', '/ping');
    const [, notice] = await botSaid('dm:bob', 2);
    expect(notice).toEqual([{ type: 'text', text: expect.stringMatching(/^You are sending messages too fast\. Please wait (59|60)s and try again\.$/) }]);
    await waitFor(() => logs.some((l) => l.msg === 'message handled' && l.outcome === 'limited'), 4000, "bob's limited message handled");
    expect(await botSaid('dm:bob', 2)).toHaveLength(2); // the notice and nothing else
    expect(logs.filter((l) => l.msg === 'callback failed')).toEqual([]);
  });

  it('answers 413 with an empty body to a body over 10 MiB, by its Content-Length', async () => {
    const base = await startExample(undefined);
    const res = await fetch(`${base}/onMessage`, { method: 'POST', body: Buffer.alloc(10 * 1024 * 1024 + 1, 0x20) });
    expect([res.status, await res.text()]).toEqual([413, '']);
  });

  it('answers 401 with an empty body to an unsigned or forged request when it has a secret', async () => {
    const base = await startExample(secret);
    const body = JSON.stringify({ stage: 'onMessage', message: { author: { id: 'mallory' } } });
    const unsigned = await fetch(base, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect([unsigned.status, await unsigned.text()]).toEqual([401, '']);
    const forged = await fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-id': 'x.onMessage', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' },
      body,
    });
    expect(forged.status).toBe(401);
  });

  it('takes unsigned requests when it has no secret', async () => {
    const base = await startExample(undefined);
    const blocked = await fetch(`${base}/onMessage`, { method: 'POST', body: JSON.stringify({ stage: 'onMessage', message: { author: { id: 'mallory' } } }) });
    expect([blocked.status, await blocked.text()]).toEqual([403, 'You are blocked from using this bot.']);
    const other = await fetch(`${base}/onMessage`, { method: 'POST', body: JSON.stringify({ stage: 'onMessage', message: { author: { id: 'alice' } } }) });
    expect([other.status, other.headers.get('content-type'), await other.text()]).toEqual([200, 'application/json; charset=utf-8', 'null']);
    const elsewhere = await fetch(`${base}/onSent`, { method: 'POST', body: JSON.stringify({ stage: 'onSent', message: { author: { id: 'alice' } } }) });
    expect(elsewhere.status).toBe(204);
  });
});
