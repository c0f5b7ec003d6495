// A fake QQ Open Platform on 127.0.0.1: the token endpoint, the OpenAPI routes the adapter uses
// (bodies recorded, `Authorization: QQBot <token>` + X-Union-Appid checked, 401 for an expired
// token), the websocket gateway, a CDN for attachments, and a webhook sender that signs every
// request with the Ed25519 key QQ derives from the AppSecret.

import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FakeQQGateway } from './qq-gateway.js';
import { closeServer, json as sendJson, listenLocal, readBody } from './http.js';

export interface SentMessage {
  scene: 'group' | 'user' | 'channel' | 'dm';
  target: string;
  body: Record<string, any>;
  id: string;
  /** When it was taken (Date.now()). */
  at: number;
}

export interface Upload {
  scene: 'group' | 'user';
  target: string;
  body: Record<string, any>;
  /** What the fake downloaded from body.url, as QQ would. */
  bytes: Buffer;
  contentType: string;
  fileInfo: string;
}

interface Failure {
  status: number;
  body: object;
  headers: Record<string, string>;
  times: number;
}

export class FakeQQ {
  readonly appId = '102000001';
  readonly appSecret = 'DG5g3B4j9X2KOErG';
  readonly botUser = { id: '144115218677563110', username: 'switchboard-bot' };
  /** Seconds a new token lives (QQ: 7200, sent as a string). */
  tokenTtlSeconds = 7200;
  readonly sent: SentMessage[] = [];
  /** Replies QQ turned away as repeats of one it already took (the same msg_id + msg_seq, code 40054005). */
  deduplicated = 0;
  readonly uploads: Upload[] = [];
  /** Every OpenAPI call, with the token and the body it carried. */
  readonly calls: { method: string; path: string; token: string; status: number; body?: Record<string, any> }[] = [];
  tokenRequests = 0;
  /** The token endpoint answers 503 (QQ briefly down). */
  tokenEndpointDown = false;
  /** The token endpoint refuses the app's credentials (a secret reset on q.qq.com). */
  credentialsRevoked = false;
  url = '';
  gateway!: FakeQQGateway;
  private readonly tokens = new Map<string, number>();
  private readonly files = new Map<string, { data: Buffer; mime: string }>();
  private readonly failures = new Map<string, Failure>();
  private readonly replies = new Set<string>();
  private readonly lostAnswers = new Map<string, { status: number; times: number }>();
  /** Responses whose answer is to be lost, with the status they get instead. */
  private readonly losing = new WeakMap<ServerResponse, number>();
  private server: Server | undefined;
  private counter = 0;

  /** The messages the bot sent that the platform took, in order: what its chats show. */
  delivered(): SentMessage[] {
    return this.sent.slice();
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.route(req, res).catch((error: Error) => json(res, 500, { message: error.message }));
    });
    this.gateway = new FakeQQGateway(server, { tokenIsLive: (t) => this.tokenIsLive(t), botUser: this.botUser });
    this.url = await listenLocal(server);
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await this.gateway.close();
    await closeServer(server);
  }

  /** Every token issued so far stops working at once (as if it expired mid-run). */
  expireTokens(): void {
    for (const token of this.tokens.keys()) this.tokens.set(token, 0);
  }

  tokenIsLive(token: string): boolean {
    return (this.tokens.get(token) ?? 0) > Date.now();
  }

  /** The next `times` calls whose "METHOD /path" starts with `route` fail with this status and body. */
  failNext(route: string, status: number, body: object, times = 1, headers: Record<string, string> = {}): void {
    this.failures.set(route, { status, body, headers, times });
  }

  /**
   * The next `times` sends whose "METHOD /path" starts with `route` are carried out (the message
   * shows) but answered with `status`, as when a gateway gives up on a slow backend.
   */
  loseAnswerNext(route: string, status: number, times = 1): void {
    this.lostAnswers.set(route, { status, times });
  }

  /** Serves bytes at a CDN-like URL, as QQ serves users' attachments. */
  addFile(name: string, data: Buffer, mime: string): string {
    this.files.set(name, { data, mime });
    return `${this.url}/download/${name}`;
  }

  /** POSTs a payload to a webhook the way QQ does: signed over timestamp + body with the secret's Ed25519 key. */
  async deliver(url: string, payload: object, options: { secret?: string; timestamp?: number; signature?: string | null; rawBody?: string } = {}): Promise<Response> {
    const body = options.rawBody ?? JSON.stringify(payload);
    const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    const signature = options.signature === undefined ? signHex(options.secret ?? this.appSecret, timestamp + body) : options.signature;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'QQBot-Callback', 'x-bot-appid': this.appId, 'x-signature-timestamp': timestamp, 'x-signature-method': 'Ed25519' };
    if (signature !== null) headers['x-signature-ed25519'] = signature;
    return fetch(url, { method: 'POST', headers, body });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const raw = (await readBody(req)).toString('utf8');
    if (req.method === 'POST' && path === '/app/getAppAccessToken') return this.issueToken(res, raw);
    if (req.method === 'GET' && path.startsWith('/download/')) {
      const file = this.files.get(path.slice('/download/'.length));
      if (!file) return json(res, 404, { message: 'no such file' });
      res.writeHead(200, { 'content-type': file.mime, 'content-length': file.data.length });
      return void res.end(file.data);
    }
    const token = /^QQBot (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const authorized = this.tokenIsLive(token) && req.headers['x-union-appid'] === this.appId;
    const body = raw.length ? (JSON.parse(raw) as Record<string, any>) : {};
    const call = { method: req.method ?? 'GET', path, token, status: authorized ? 200 : 401, ...(raw.length ? { body } : {}) };
    this.calls.push(call);
    if (!authorized) return json(res, 401, { message: 'token not exist or expire', code: 11244 });
    const failure = [...this.failures.entries()].find(([route]) => `${req.method} ${path}`.startsWith(route));
    if (failure) {
      const [route, f] = failure;
      if (--f.times <= 0) this.failures.delete(route);
      call.status = f.status;
      return json(res, f.status, f.body, f.headers);
    }
    const lost = [...this.lostAnswers.entries()].find(([route]) => `${req.method} ${path}`.startsWith(route));
    if (lost) {
      const [route, l] = lost;
      if (--l.times <= 0) this.lostAnswers.delete(route);
      this.losing.set(res, l.status);
      call.status = l.status;
    }
    if (req.method === 'GET' && path === '/users/@me') return json(res, 200, { ...this.botUser, avatar: '', union_openid: 'U', union_user_account: '' });
    if (req.method === 'GET' && path === '/gateway/bot')
      return json(res, 200, { url: `${this.url.replace('http', 'ws')}/websocket`, shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 86_400_000, max_concurrency: 1 } });
    let match = /^\/v2\/(groups|users)\/([^/]+)\/(messages|files)$/.exec(path);
    if (req.method === 'POST' && match) {
      const scene = match[1] === 'groups' ? 'group' : 'user';
      return match[3] === 'files' ? this.upload(res, scene, match[2]!, body) : this.sendV2(res, scene, match[2]!, body);
    }
    match = /^\/(channels|dms)\/([^/]+)\/messages$/.exec(path);
    if (req.method === 'POST' && match) return this.sendGuild(res, match[1] === 'channels' ? 'channel' : 'dm', match[2]!, body);
    json(res, 404, { message: `no route ${req.method} ${path}`, code: 404 });
  }

  private issueToken(res: ServerResponse, raw: string): void {
    this.tokenRequests++;
    if (this.tokenEndpointDown) return json(res, 503, { message: 'service unavailable' });
    const body = JSON.parse(raw || '{}') as { appId?: string; clientSecret?: string };
    if (body.appId !== this.appId || body.clientSecret !== this.appSecret || this.credentialsRevoked) return json(res, 200, { code: 100016, message: 'invalid appid or secret' });
    // Like QQ: the same token until its last 60 s, then a new one.
    const live = [...this.tokens.entries()].find(([, expiresAt]) => expiresAt - Date.now() > 60_000);
    if (live) return json(res, 200, { access_token: live[0], expires_in: String(Math.floor((live[1] - Date.now()) / 1000)) });
    const token = `tok-${++this.counter}-${randomUUID().slice(0, 8)}`;
    this.tokens.set(token, Date.now() + this.tokenTtlSeconds * 1000);
    json(res, 200, { access_token: token, expires_in: String(this.tokenTtlSeconds) });
  }

  private async upload(res: ServerResponse, scene: 'group' | 'user', target: string, body: Record<string, any>): Promise<void> {
    if (![1, 2, 3].includes(body.file_type) || typeof body.url !== 'string' || body.srv_send_msg !== false)
      return json(res, 400, { message: 'file_type, url and srv_send_msg are required', code: 40034001 });
    const fetched = await fetch(body.url).catch(() => undefined);
    if (!fetched || fetched.status !== 200) return json(res, 500, { message: 'upload media info fail', code: 304082 });
    const fileInfo = `fi-${++this.counter}`;
    this.uploads.push({ scene, target, body, bytes: Buffer.from(await fetched.arrayBuffer()), contentType: fetched.headers.get('content-type') ?? '', fileInfo });
    json(res, 200, { file_uuid: randomUUID(), file_info: fileInfo, ttl: 3600 });
  }

  private sendV2(res: ServerResponse, scene: 'group' | 'user', target: string, body: Record<string, any>): void {
    if (![0, 2, 3, 4, 7].includes(body.msg_type)) return json(res, 400, { message: 'msg_type is required', code: 40034002 });
    if (typeof body.content !== 'string' || body.content === '') return json(res, 400, { message: 'content is required', code: 50006 });
    if (body.msg_type === 7 && !this.uploads.some((u) => u.fileInfo === body.media?.file_info && u.scene === scene && u.target === target))
      return json(res, 400, { message: 'file_info is not valid here', code: 40034003 });
    // Since April 2025 QQ takes no active messages in groups and C2C: a reply must name the message it answers.
    if (typeof body.msg_id !== 'string') return json(res, 400, { message: 'active messages are not supported', code: 40034024 });
    const replyKey = `${body.msg_id}#${body.msg_seq ?? 1}`;
    if (this.replies.has(replyKey)) {
      this.deduplicated++;
      return json(res, 400, { message: '消息被去重，请检查请求msgseq', code: 40054005 });
    }
    this.replies.add(replyKey);
    this.record(res, scene, target, body);
  }

  private sendGuild(res: ServerResponse, scene: 'channel' | 'dm', target: string, body: Record<string, any>): void {
    if (!body.content && !body.image && !body.embed && !body.ark && !body.markdown) return json(res, 400, { message: 'message is empty', code: 50006 });
    this.record(res, scene, target, body);
  }

  private record(res: ServerResponse, scene: SentMessage['scene'], target: string, body: Record<string, any>): void {
    const id = `sent-${++this.counter}`;
    this.sent.push({ scene, target, body, id, at: Date.now() });
    const lost = this.losing.get(res);
    if (lost !== undefined) return json(res, lost, { message: 'upstream timed out' });
    json(res, 200, { id, timestamp: Math.floor(Date.now() / 1000) });
  }
}

/** QQ's key derivation, written independently of the adapter: the secret repeated to 32 bytes is the Ed25519 seed. */
export function signHex(secret: string, message: string): string {
  let seed = secret;
  while (seed.length < 32) seed += seed;
  const key = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed.slice(0, 32))]), format: 'der', type: 'pkcs8' });
  return sign(null, Buffer.from(message), key).toString('hex');
}

/** QQ's answers carry a trace id. */
function json(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  sendJson(res, status, body, { 'x-tps-trace-id': randomUUID(), ...headers });
}

// Events as QQ sends them (shapes from QQ's event docs).

let eventCounter = 0;
const nextId = (prefix: string) => `${prefix}${++eventCounter}_${randomUUID().replace(/-/g, '')}`;
const now = () => new Date().toISOString();

export interface QQPayload {
  op: 0;
  id: string;
  t: string;
  d: Record<string, any>;
}

/** A group @-message; QQ removes the @bot from the content and leaves the space after it. */
export function groupAt(content: string, options: { group?: string; member?: string; id?: string; attachments?: object[] } = {}): QQPayload {
  const d = { id: options.id ?? nextId('ROBOT1.0_g'), content: ` ${content}`, timestamp: now(), group_openid: options.group ?? 'C9F778FE6ADF9D1D1DBE395BF744A33A', author: { member_openid: options.member ?? 'E4F4AEA33253A2797FB897C50B81D7ED' }, attachments: options.attachments };
  return { op: 0, id: `GROUP_AT_MESSAGE_CREATE:${randomUUID()}`, t: 'GROUP_AT_MESSAGE_CREATE', d };
}

export function c2c(content: string, options: { user?: string; id?: string; attachments?: object[] } = {}): QQPayload {
  const d = { id: options.id ?? nextId('ROBOT1.0_c'), content, timestamp: now(), author: { user_openid: options.user ?? 'A1B2C3D4E5F60718293A4B5C6D7E8F90' }, attachments: options.attachments };
  return { op: 0, id: `C2C_MESSAGE_CREATE:${randomUUID()}`, t: 'C2C_MESSAGE_CREATE', d };
}

/** A guild @-message: the content starts with <@!bot id>, which is also listed in mentions. */
export function guildAt(content: string, bot: { id: string; username: string }, options: { channel?: string; guild?: string; id?: string; mentions?: object[] } = {}): QQPayload {
  const d = {
    id: options.id ?? nextId('08e0'),
    channel_id: options.channel ?? '100010',
    guild_id: options.guild ?? '18700000000001',
    content: `<@!${bot.id}> ${content}`,
    timestamp: now(),
    author: { id: '1234', username: 'alice', avatar: 'http://thirdqq.qlogo.cn/0', bot: false },
    member: { nick: 'Alice', joined_at: now(), roles: ['1'] },
    mentions: [{ id: bot.id, username: bot.username, bot: true }, ...(options.mentions ?? [])],
    seq: 101,
  };
  return { op: 0, id: `AT_MESSAGE_CREATE:${randomUUID()}`, t: 'AT_MESSAGE_CREATE', d };
}

export function guildDm(content: string, options: { guild?: string; channel?: string; id?: string } = {}): QQPayload {
  const d = {
    id: options.id ?? nextId('08f0'),
    channel_id: options.channel ?? '200020',
    guild_id: options.guild ?? '9876543210',
    src_guild_id: '18700000000001',
    content,
    timestamp: now(),
    author: { id: '1234', username: 'alice', avatar: 'http://thirdqq.qlogo.cn/0', bot: false },
    member: { joined_at: now() },
  };
  return { op: 0, id: `DIRECT_MESSAGE_CREATE:${randomUUID()}`, t: 'DIRECT_MESSAGE_CREATE', d };
}
