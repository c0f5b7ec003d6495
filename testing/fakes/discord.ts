// A fake Discord on 127.0.0.1: the REST routes the adapter uses (GET /gateway/bot, channel
// messages as JSON or multipart with payload_json + files[n], the interaction callback), with
// `Authorization: Bot <token>` checked and injectable failures (a 429 with Retry-After), a CDN for
// attachments, and the gateway (./discord-gateway.ts) on the same port.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FakeDiscordGateway } from './discord-gateway.js';

export interface SentFile {
  field: string;
  name: string;
  type: string;
  data: Buffer;
}

export interface SentMessage {
  channelId: string;
  /** The JSON body, or the parsed payload_json of a multipart body. */
  body: Record<string, any>;
  files: SentFile[];
  contentType: string;
  at: number;
  id: string;
}

/** A PATCH of one of the bot's messages. */
export interface EditedMessage {
  channelId: string;
  messageId: string;
  body: Record<string, any>;
  files: SentFile[];
  at: number;
  /** The HTTP status it got. */
  status: number;
}

interface Failure {
  /** POST: a message send; PATCH: a message edit. */
  method: string;
  status: number;
  body: object;
  headers: Record<string, string>;
  times: number;
}

export const token = 'MTA5ODc2NTQzMjEwOTg3NjU0.GfakeX.fake-token-for-tests-only_0123456789';

export class FakeDiscord {
  readonly botUser = { id: '1098765432109876543', username: 'switchboard' };
  readonly applicationId = '1098765432109876543';
  readonly sent: SentMessage[] = [];
  /** Every message edit, refused ones included. */
  readonly edits: EditedMessage[] = [];
  readonly interactionCallbacks: { id: string; token: string; body: any }[] = [];
  /** Every REST call: method, path and the status it got (and a message send's nonce), and the port it came from. */
  readonly calls: { method: string; path: string; status: number; at: number; peerPort: number; nonce?: string }[] = [];
  url = '';
  gateway!: FakeDiscordGateway;
  /** Host the gateway URL names (e.g. "localhost" to tell gateway tunnels from REST ones at a proxy). */
  gatewayHost = '127.0.0.1';
  private readonly files = new Map<string, { data: Buffer; mime: string }>();
  private readonly failures: Failure[] = [];
  /** Answers for the next sends after the message was stored, as a gateway timeout in front of Discord would. */
  private readonly lostAnswers: number[] = [];
  /** Messages by nonce, for enforce_nonce: a repeat returns the first message instead of a second one. */
  private readonly nonces = new Map<string, Record<string, unknown>>();
  /** The bot's messages as their channels show them now, by id (edits applied; deleted ones gone). */
  private readonly shown = new Map<string, Record<string, any>>();
  private server: Server | undefined;
  private counter = 1_200_000_000_000_000_000n;

  /** The messages the bot sent that the platform took, in order: what its chats show. */
  delivered(): SentMessage[] {
    return this.sent.slice();
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.route(req, res).catch((error: Error) => json(res, 500, { message: error.message, code: 0 }));
    });
    this.gateway = new FakeDiscordGateway(server, { token, botUser: this.botUser, applicationId: this.applicationId });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    this.url = `http://127.0.0.1:${port}`;
    this.gateway.resumeUrl = `ws://127.0.0.1:${port}/resume`;
    this.server = server;
    return this;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  async stop(): Promise<void> {
    await this.gateway.close();
    const server = this.server;
    this.server = undefined;
    server?.closeAllConnections();
    if (server) await new Promise((resolve) => server.close(resolve));
  }

  /** A new snowflake, later than every one before. */
  snowflake(): string {
    return String(++this.counter);
  }

  /** Serves bytes at a CDN URL, as Discord serves attachments. */
  hostFile(name: string, data: Buffer, mime: string): string {
    const path = `/cdn/attachments/1/${this.snowflake()}/${name}`;
    this.files.set(path, { data, mime });
    return `${this.url}${path}?ex=1&is=2&hm=abc`;
  }

  /** The next `times` message sends (or with method PATCH, edits) get this answer instead. */
  failNext(status: number, body: object, headers: Record<string, string> = {}, times = 1, method = 'POST'): void {
    this.failures.push({ method, status, body, headers, times });
  }

  /** A bot message as its channel shows it now (its content, components, attachments), or undefined once deleted. */
  message(id: string): Record<string, any> | undefined {
    return this.shown.get(id);
  }

  /** Someone deleted the message: editing it gets 404 Unknown Message from now on. */
  deleteMessage(id: string): void {
    this.shown.delete(id);
  }

  /** The next message send is stored, but its answer is this 5xx (Discord did the work; the client cannot know). */
  loseAnswerNext(status = 502): void {
    this.lostAnswers.push(status);
  }

  /** A 429 as Discord sends it: Retry-After in seconds, per-route bucket headers; for the next send (or with PATCH, edit). */
  rateLimitNext(seconds: number, method = 'POST'): void {
    this.failNext(429, { message: 'You are being rate limited.', retry_after: seconds, global: false }, {
      'retry-after': String(seconds),
      'x-ratelimit-limit': '5',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset-after': String(seconds),
      'x-ratelimit-bucket': 'fake-bucket',
      'x-ratelimit-scope': 'user',
    }, 1, method);
  }

  /** The failure queued for this method, taken (its count down) when one is. */
  private takeFailure(method: string): Failure | undefined {
    const index = this.failures.findIndex((f) => f.method === method);
    const failure = this.failures[index];
    if (failure && --failure.times <= 0) this.failures.splice(index, 1);
    return failure;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const path = url.pathname;
    let nonce: string | undefined;
    const record = (status: number) => this.calls.push({ method: req.method ?? '', path, status, at: Date.now(), peerPort: req.socket.remotePort ?? 0, ...(nonce === undefined ? {} : { nonce }) });
    if (req.method === 'GET' && path.startsWith('/cdn/')) {
      const file = this.files.get(path);
      record(file ? 200 : 404);
      if (!file) return void res.writeHead(404).end();
      return void res.writeHead(200, { 'content-type': file.mime, 'content-length': file.data.length }).end(file.data);
    }
    const interaction = /^\/api\/v10\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path);
    if (req.method === 'POST' && interaction) {
      // Interaction callbacks are authorized by the interaction token in the path, not the bot token.
      const body = JSON.parse(String(await readBody(req)));
      this.interactionCallbacks.push({ id: interaction[1]!, token: interaction[2]!, body });
      record(204);
      return void res.writeHead(204).end();
    }
    if (req.headers.authorization !== `Bot ${token}`) {
      record(401);
      return json(res, 401, { message: '401: Unauthorized', code: 0 });
    }
    if (req.method === 'GET' && path === '/api/v10/gateway/bot') {
      record(200);
      return json(res, 200, {
        url: `ws://${this.gatewayHost}:${this.port}/gateway`,
        shards: this.gateway.shards,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: this.gateway.maxConcurrency },
      });
    }
    const messages = /^\/api\/v10\/channels\/(\d+)\/messages$/.exec(path);
    if (req.method === 'POST' && messages) {
      const { body, files, contentType } = await readMessage(req);
      nonce = body.enforce_nonce === true && body.nonce !== undefined ? String(body.nonce) : undefined;
      const failure = this.takeFailure('POST');
      if (failure) {
        record(failure.status);
        return json(res, failure.status, failure.body, failure.headers);
      }
      const earlier = nonce === undefined ? undefined : this.nonces.get(nonce);
      if (earlier) {
        record(200);
        return json(res, 200, earlier);
      }
      const id = this.snowflake();
      this.sent.push({ channelId: messages[1]!, body, files, contentType, at: Date.now(), id });
      const message = {
        id,
        channel_id: messages[1],
        type: body.message_reference ? 19 : 0,
        content: body.content ?? '',
        author: { ...this.botUser, discriminator: '0', avatar: null, bot: true, global_name: null },
        attachments: files.map((f, i) => ({ id: String(i), filename: f.name, size: f.data.length, url: `${this.url}/cdn/x/${f.name}`, proxy_url: '' })),
        embeds: body.embeds ?? [],
        mentions: [],
        mention_roles: [],
        pinned: false,
        mention_everyone: false,
        tts: false,
        timestamp: new Date().toISOString(),
        edited_timestamp: null,
        flags: 0,
        components: body.components ?? [],
        ...(body.nonce !== undefined ? { nonce: body.nonce } : {}),
      };
      if (nonce !== undefined) this.nonces.set(nonce, message);
      this.shown.set(id, message);
      const lost = this.lostAnswers.shift();
      record(lost ?? 200);
      return lost ? json(res, lost, { message: 'upstream timed out', code: 0 }) : json(res, 200, message);
    }
    const one = /^\/api\/v10\/channels\/(\d+)\/messages\/(\d+)$/.exec(path);
    if (req.method === 'PATCH' && one) return this.edit(one[1]!, one[2]!, req, res, record);
    record(404);
    json(res, 404, { message: '404: Not Found', code: 0 });
  }

  /** PATCH /channels/{channel.id}/messages/{message.id}: the fields given replace the message's; answers the edited message. */
  private async edit(channelId: string, messageId: string, req: IncomingMessage, res: ServerResponse, record: (status: number) => void): Promise<void> {
    const { body, files } = await readMessage(req);
    const done = (status: number) => (record(status), this.edits.push({ channelId, messageId, body, files, at: Date.now(), status }));
    const failure = this.takeFailure('PATCH');
    if (failure) return done(failure.status), json(res, failure.status, failure.body, failure.headers);
    const message = this.shown.get(messageId);
    if (!message || message.channel_id !== channelId) return done(404), json(res, 404, { message: 'Unknown Message', code: 10008 });
    const content = body.content === undefined ? message.content : String(body.content ?? '');
    if (content.length > 2000) return done(400), json(res, 400, { message: 'Invalid Form Body', code: 50035, errors: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }] } } });
    const attachments = body.attachments === undefined ? message.attachments : files.map((f, i) => ({ id: String(i), filename: f.name, size: f.data.length, url: `${this.url}/cdn/x/${f.name}`, proxy_url: '' }));
    if (!content && attachments.length === 0 && (body.embeds ?? message.embeds).length === 0) return done(400), json(res, 400, { message: 'Cannot send an empty message', code: 50006 });
    const edited = { ...message, content, attachments, ...(body.components ? { components: body.components } : {}), ...(body.embeds ? { embeds: body.embeds } : {}), edited_timestamp: new Date().toISOString() };
    this.shown.set(messageId, edited);
    done(200);
    json(res, 200, edited);
  }
}

/** A message body: JSON, or multipart with payload_json and files[n]. */
async function readMessage(req: IncomingMessage): Promise<{ body: Record<string, any>; files: SentFile[]; contentType: string }> {
  const raw = await readBody(req);
  const contentType = String(req.headers['content-type'] ?? '');
  const { body, files } = contentType.startsWith('multipart/form-data') ? await parseMultipart(raw, contentType) : { body: JSON.parse(String(raw)) as Record<string, any>, files: [] };
  return { body, files, contentType };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** multipart/form-data as Discord reads it: a payload_json field and files[n] parts. */
async function parseMultipart(raw: Buffer, contentType: string): Promise<{ body: Record<string, any>; files: SentFile[] }> {
  const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType } }).formData();
  const payload = form.get('payload_json');
  if (typeof payload !== 'string') throw new Error('multipart body without payload_json');
  const files: SentFile[] = [];
  for (const [field, value] of form.entries()) {
    if (typeof value === 'string') continue;
    files.push({ field, name: value.name, type: value.type, data: Buffer.from(await value.arrayBuffer()) });
  }
  return { body: JSON.parse(payload) as Record<string, any>, files };
}

function json(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** A MESSAGE_CREATE dispatch payload (d) for a guild channel. */
/** Text that @mentions the bot first, as users address a bot in a guild channel (the example bot answers only that, or a /command, there). */
export function atBot(fake: FakeDiscord, text = ''): string {
  return `<@${fake.botUser.id}>${text ? ` ${text}` : ''}`;
}

export function guildMessage(fake: FakeDiscord, content: string, options: { channel?: string; guild?: string; author?: { id: string; username: string }; mentions?: object[]; attachments?: object[]; reference?: string } = {}) {
  const author = options.author ?? { id: '200000000000000001', username: 'alice' };
  return {
    id: fake.snowflake(),
    type: options.reference ? 19 : 0,
    channel_id: options.channel ?? '300000000000000001',
    guild_id: options.guild ?? '400000000000000001',
    author: { ...author, discriminator: '0', global_name: null, avatar: null },
    member: { roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0 },
    content,
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    tts: false,
    mention_everyone: content.includes('@everyone'),
    mentions: options.mentions ?? [],
    mention_roles: [],
    attachments: options.attachments ?? [],
    embeds: [],
    pinned: false,
    flags: 0,
    ...(options.reference ? { message_reference: { type: 0, message_id: options.reference, channel_id: options.channel ?? '300000000000000001' } } : {}),
  };
}

/** A MESSAGE_CREATE dispatch payload (d) for a DM: channel_type 1, no guild. */
export function directMessage(fake: FakeDiscord, content: string, options: { channel?: string; author?: { id: string; username: string }; attachments?: object[] } = {}) {
  const { guild_id: _guild, member: _member, ...rest } = guildMessage(fake, content, { channel: options.channel ?? '500000000000000001', author: options.author, attachments: options.attachments });
  return { ...rest, channel_type: 1 };
}

/** A GUILD_CREATE dispatch payload (d), as Discord sends one per guild after READY: the guild and its text channels, which discord.js then caches. */
export function guildCreate(options: { id?: string; channels?: string[]; memberCount?: number } = {}) {
  const id = options.id ?? '400000000000000001';
  return {
    id,
    name: 'a guild',
    icon: null,
    owner_id: '200000000000000000',
    afk_timeout: 300,
    verification_level: 0,
    default_message_notifications: 0,
    explicit_content_filter: 0,
    roles: [{ id, name: '@everyone', permissions: '0', position: 0, color: 0, hoist: false, managed: false, mentionable: false, flags: 0 }],
    emojis: [],
    stickers: [],
    features: [],
    mfa_level: 0,
    system_channel_flags: 0,
    premium_tier: 0,
    preferred_locale: 'en-US',
    nsfw_level: 0,
    unavailable: false,
    member_count: options.memberCount ?? 2,
    large: false,
    joined_at: new Date().toISOString(),
    members: [],
    channels: (options.channels ?? ['300000000000000001']).map((channel, i) => ({ id: channel, type: 0, name: `chat-${i}`, position: i, permission_overwrites: [], nsfw: false, parent_id: null })),
    threads: [],
    presences: [],
    voice_states: [],
    stage_instances: [],
    guild_scheduled_events: [],
  };
}
