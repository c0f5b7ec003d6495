// A fake Lark open platform on 127.0.0.1: the tenant token endpoint, bot info, send and reply, card
// updates (PATCH of a message, with Lark's checks and its 5-a-second limit per message),
// image and file uploads (real multipart, parsed here), message resources, the long-connection
// endpoint (with the websocket in lark-ws.ts), and an event sender that encrypts and signs
// exactly as Lark does: AES-256-CBC under sha256(encryptKey) with the IV in front, base64;
// X-Lark-Signature = sha256(timestamp + nonce + encryptKey + body).

import { createCipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FakeLarkLongConnection } from './lark-ws.js';
import { closeServer, json as sendJson, listenLocal, readBody } from './http.js';

export interface SentMessage {
  /** create: POST /im/v1/messages; reply: POST /im/v1/messages/:id/reply. */
  kind: 'create' | 'reply';
  /** chat_id for create; the message replied to for reply. */
  target: string;
  receiveIdType?: string;
  msgType: string;
  /** `content`, parsed. */
  content: Record<string, any>;
  messageId: string;
  token: string;
  uuid?: string;
  /** When it was sent (Date.now()). */
  at: number;
}

/** A message send as it reached the fake, whatever came of it. */
export interface SendRequest {
  kind: SentMessage['kind'];
  uuid: string | undefined;
  status: number;
  /** When it arrived (Date.now()). */
  at: number;
}

/** How the fake answers one coming message send instead of the usual way. */
export interface SendFailure {
  status: number;
  code?: number;
  msg?: string;
  headers?: Record<string, string>;
  /** The message is sent before the failure is answered: the answer, not the send, is lost. */
  afterSending?: boolean;
}

/** A card update (PATCH /open-apis/im/v1/messages/:message_id) as it reached the fake, taken or not. */
export interface PatchRequest {
  messageId: string;
  /** The card it would show, parsed; set only when the update was taken. */
  content?: Record<string, any>;
  status: number;
  /** Lark's code in the answer (0: taken). */
  code: number;
  /** When it arrived (Date.now()). */
  at: number;
}

export interface Upload {
  kind: 'image' | 'file';
  key: string;
  fields: Record<string, string>;
  bytes: Buffer;
  filename: string | undefined;
}

export class FakeLark {
  readonly appId: string;
  readonly appSecret = 'sEcReT-app-secret-0123456789';
  readonly verificationToken = 'vT0ken-for-events';
  readonly encryptKey: string | undefined;
  readonly botOpenId = 'ou_bot0000000000000000000000000001';
  readonly sent: SentMessage[] = [];
  /** Every create and reply request, deduplicated, failed or not. */
  readonly sendRequests: SendRequest[] = [];
  /** Answers the next message sends give, first first; null: the usual answer. */
  readonly sendFailures: (SendFailure | null)[] = [];
  /** Every card update, in order; `showing` gives what a message shows after them. */
  readonly patches: PatchRequest[] = [];
  /** Answers the next card updates give, first first; null: the usual answer. */
  readonly patchFailures: (SendFailure | null)[] = [];
  readonly uploads: Upload[] = [];
  readonly resourceRequests: { messageId: string; key: string; type: string }[] = [];
  readonly calls: { method: string; path: string; status: number }[] = [];
  /** Chats the bot is in: those the events built for this fake come from. */
  readonly chats = new Set<string>();
  tokenRequests = 0;
  endpointRequests = 0;
  /** Requests whose path matches one of these are left unanswered (each pattern once): a Lark that hangs. */
  readonly stalls: RegExp[] = [];
  /** Answers the next calls to /callback/ws/endpoint give instead of a URL (Lark busy, say), first first. */
  readonly endpointRefusals: { code: number; msg: string }[] = [];
  url = '';
  ws!: FakeLarkLongConnection;
  private readonly tokens = new Set<string>();
  /** Lark's send dedup: a uuid seen within the hour sends nothing more. */
  private readonly uuids = new Map<string, { answer: object; at: number }>();
  /** Messages recalled in the chat (by a user or an admin): they can no longer be updated. */
  private readonly recalled = new Set<string>();
  private readonly resources = new Map<string, { type: 'image' | 'file'; data: Buffer; mime: string; stall?: boolean }>();
  private server: Server | undefined;
  private counter = 0;

  constructor(options: { encryptKey?: string | null; appId?: string } = {}) {
    this.encryptKey = options.encryptKey === null ? undefined : (options.encryptKey ?? 'eNcRyPt-key-xyz');
    // Unique per instance, like a real app, and of the shape the SDK's long-connection client demands.
    this.appId = options.appId ?? `cli_${randomBytes(8).toString('hex')}`;
  }

  /** The messages the bot sent that the platform took, in order: what its chats show. */
  delivered(): SentMessage[] {
    return this.sent.slice();
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.route(req, res).catch((error: Error) => json(res, 500, { code: 500, msg: error.message }));
    });
    this.ws = new FakeLarkLongConnection(server, '/ws');
    this.url = await listenLocal(server);
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await this.ws.close();
    await closeServer(server);
  }

  /** Every token issued so far stops working at once (expired early, or the secret was reset). */
  expireTokens(): void {
    this.tokens.clear();
  }

  /** What message `m` shows now: the content of its last update taken, or what was sent. */
  showing(m: SentMessage): Record<string, any> {
    for (let i = this.patches.length - 1; i >= 0; i--) {
      const p = this.patches[i]!;
      if (p.messageId === m.messageId && p.content) return p.content;
    }
    return m.content;
  }

  /** The message is recalled (withdrawn) in its chat, as its sender or a group admin can. */
  recall(messageId: string): void {
    this.recalled.add(messageId);
  }

  /** Makes `data` downloadable as the resource `key` of message `messageId` (a user's image or file). */
  addResource(messageId: string, key: string, type: 'image' | 'file', data: Buffer, mime: string, options: { /** Sends half the bytes, then nothing more. */ stall?: boolean } = {}): void {
    this.resources.set(`${messageId}/${key}`, { type, data, mime, ...options });
  }

  /**
   * POSTs an event to a webhook the way Lark does: encrypted and signed when an Encrypt Key is
   * set, plain JSON otherwise. Options forge what a test needs to be wrong.
   */
  async deliver(
    url: string,
    payload: object,
    options: { encrypt?: boolean; rawBody?: string; signature?: string | null; signWith?: string; signBody?: string; headers?: Record<string, string>; /** Unix seconds to sign with (now by default). */ timestamp?: number } = {},
  ): Promise<Response> {
    const key = this.encryptKey;
    const body = options.rawBody ?? (key && options.encrypt !== false ? JSON.stringify({ encrypt: encrypt(key, JSON.stringify(payload)) }) : JSON.stringify(payload));
    const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    const nonce = randomUUID();
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'Go-http-client/1.1', 'x-lark-request-timestamp': timestamp, 'x-lark-request-nonce': nonce, ...options.headers };
    const signingKey = options.signWith ?? key;
    const signature = options.signature === undefined ? (signingKey ? sign(timestamp, nonce, signingKey, options.signBody ?? body) : null) : options.signature;
    if (signature !== null) headers['x-lark-signature'] = signature;
    return fetch(url, { method: 'POST', headers, body });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const raw = await readBody(req);
    const method = req.method ?? 'GET';
    const stall = this.stalls.findIndex((pattern) => pattern.test(path));
    if (stall !== -1) return void this.stalls.splice(stall, 1);
    if (method === 'POST' && path === '/open-apis/auth/v3/tenant_access_token/internal') return this.issueToken(res, raw);
    if (method === 'POST' && path === '/callback/ws/endpoint') return this.wsEndpoint(res, raw);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const call = { method, path, status: 200 };
    this.calls.push(call);
    if (!this.tokens.has(token)) {
      call.status = 400;
      return json(res, 400, { code: 99991663, msg: 'Invalid access token for authorization. Please make a request with token attached.' });
    }
    if (method === 'GET' && path === '/open-apis/bot/v3/info')
      return json(res, 200, { code: 0, msg: 'ok', bot: { activate_status: 2, app_name: 'Switchboard', avatar_url: '', ip_white_list: [], open_id: this.botOpenId } });
    if (method === 'POST' && path === '/open-apis/im/v1/messages') return this.send(res, 'create', url.searchParams.get('receive_id_type') ?? '', raw, token);
    let match = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/reply$/.exec(path);
    if (method === 'POST' && match) return this.send(res, 'reply', match[1]!, raw, token);
    if (method === 'PATCH' && (match = /^\/open-apis\/im\/v1\/messages\/([^/]+)$/.exec(path))) return this.patch(res, match[1]!, raw, call);
    if (method === 'POST' && (path === '/open-apis/im/v1/images' || path === '/open-apis/im/v1/files')) return this.upload(req, res, path.endsWith('images') ? 'image' : 'file', raw);
    match = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/resources\/([^/]+)$/.exec(path);
    if (method === 'GET' && match) {
      const [, messageId, key] = match as unknown as [string, string, string];
      const type = url.searchParams.get('type') ?? '';
      this.resourceRequests.push({ messageId, key, type });
      const resource = this.resources.get(`${messageId}/${key}`);
      if (!resource || resource.type !== type) {
        call.status = 400;
        return json(res, 400, { code: 234003, msg: 'File not in msg.' });
      }
      res.writeHead(200, { 'content-type': resource.mime, 'content-length': resource.data.length });
      if (resource.stall) return void res.write(resource.data.subarray(0, resource.data.length >> 1));
      return void res.end(resource.data);
    }
    call.status = 404;
    json(res, 404, { code: 404, msg: `no route ${method} ${path}` });
  }

  private issueToken(res: ServerResponse, raw: Buffer): void {
    this.tokenRequests++;
    const body = JSON.parse(raw.toString() || '{}') as { app_id?: string; app_secret?: string };
    if (body.app_id !== this.appId || body.app_secret !== this.appSecret) return json(res, 200, { code: 10014, msg: 'app secret invalid' });
    const token = `t-${++this.counter}-${randomUUID().slice(0, 8)}`;
    this.tokens.add(token);
    json(res, 200, { code: 0, msg: 'ok', tenant_access_token: token, expire: 7200 });
  }

  private wsEndpoint(res: ServerResponse, raw: Buffer): void {
    this.endpointRequests++;
    const body = JSON.parse(raw.toString() || '{}') as { AppID?: string; AppSecret?: string };
    if (body.AppID !== this.appId || body.AppSecret !== this.appSecret) return json(res, 200, { code: 514, msg: 'auth failed', data: {} });
    const refusal = this.endpointRefusals.shift();
    if (refusal) return json(res, 200, { ...refusal, data: {} });
    // service_id must not be the first query parameter: the SDK reads it with qs.parse(URL).
    const URL = `${this.url.replace('http', 'ws')}/ws?fpid=1&aid=${this.appId}&device_id=dev-1&access_key=k&service_id=33&ticket=${randomUUID()}`;
    json(res, 200, { code: 0, msg: 'ok', data: { URL, ClientConfig: { PingInterval: 120, ReconnectCount: -1, ReconnectInterval: 1, ReconnectNonce: 0 } } });
  }

  private send(res: ServerResponse, kind: SentMessage['kind'], target: string, raw: Buffer, token: string): void {
    const body = JSON.parse(raw.toString()) as { receive_id?: string; msg_type?: string; content?: string; uuid?: string };
    const request: SendRequest = { kind, uuid: body.uuid, status: 200, at: Date.now() };
    this.sendRequests.push(request);
    const answer = (status: number, reply: object, headers?: Record<string, string>) => {
      request.status = status;
      json(res, status, reply, headers);
    };
    const failure = this.sendFailures.shift();
    if (failure && !failure.afterSending) return answer(failure.status, { code: failure.code ?? failure.status, msg: failure.msg ?? 'injected failure' }, failure.headers);
    if (body.uuid !== undefined && body.uuid.length > 50) return answer(400, { code: 230001, msg: 'uuid is longer than 50 characters' });
    const repeat = body.uuid === undefined ? undefined : this.uuids.get(body.uuid);
    // The same uuid within an hour sends nothing more; the fake answers as it did the first time
    // (Lark's docs say only that at most one message is sent).
    if (repeat && Date.now() - repeat.at < 3_600_000) return answer(200, repeat.answer);
    if (kind === 'create' && (!body.receive_id || !target)) return answer(400, { code: 230001, msg: 'receive_id and receive_id_type are required' });
    if (typeof body.msg_type !== 'string' || typeof body.content !== 'string') return answer(400, { code: 230001, msg: 'msg_type and content are required' });
    if (kind === 'create' && !this.chats.has(body.receive_id!)) return answer(400, { code: 230002, msg: 'Bot/User can NOT be out of the chat.' });
    const content = JSON.parse(body.content) as Record<string, any>;
    if (body.msg_type === 'image' && !this.uploads.some((u) => u.kind === 'image' && u.key === content.image_key)) return answer(400, { code: 230013, msg: 'image_key is invalid' });
    if (body.msg_type === 'file' && !this.uploads.some((u) => u.kind === 'file' && u.key === content.file_key)) return answer(400, { code: 230013, msg: 'file_key is invalid' });
    const messageId = `om_${randomUUID().replace(/-/g, '')}`;
    this.sent.push({ kind, target: kind === 'create' ? body.receive_id! : target, ...(kind === 'create' ? { receiveIdType: target } : {}), msgType: body.msg_type, content, messageId, token, at: request.at, ...(body.uuid === undefined ? {} : { uuid: body.uuid }) });
    const reply = { code: 0, msg: 'success', data: { message_id: messageId, msg_type: body.msg_type, create_time: String(Date.now()) } };
    if (body.uuid !== undefined) this.uuids.set(body.uuid, { answer: reply, at: Date.now() });
    if (failure) return answer(failure.status, { code: failure.code ?? failure.status, msg: failure.msg ?? 'injected failure' }, failure.headers);
    answer(200, reply);
  }

  /**
   * Lark's card update: only an interactive card this app sent, not recalled, shared
   * (config.update_multi) before and after; 5 updates a second to one message (230020 past that).
   */
  private patch(res: ServerResponse, messageId: string, raw: Buffer, call: { status: number }): void {
    const request: PatchRequest = { messageId, status: 200, code: 0, at: Date.now() };
    this.patches.push(request);
    const answer = (status: number, code: number, msg: string, headers?: Record<string, string>) => {
      request.status = call.status = status;
      request.code = code;
      json(res, status, code === 0 ? { code, msg, data: {} } : { code, msg }, headers);
    };
    const failure = this.patchFailures.shift();
    if (failure) return answer(failure.status, failure.code ?? failure.status, failure.msg ?? 'injected failure', failure.headers);
    const message = this.sent.find((m) => m.messageId === messageId);
    if (!message) return answer(400, 230001, 'Your request contains an invalid request parameter: message_id is invalid.');
    if (this.recalled.has(messageId)) return answer(400, 230011, 'The message is recalled.');
    const body = JSON.parse(raw.toString() || '{}') as { content?: unknown };
    if (message.msgType !== 'interactive' || typeof body.content !== 'string') return answer(400, 230001, 'Your request contains an invalid request parameter: only an interactive card can be updated, with content.');
    const content = JSON.parse(body.content) as Record<string, any>;
    if (this.showing(message).config?.update_multi !== true || content.config?.update_multi !== true) return answer(400, 230001, 'Your request contains an invalid request parameter: the card must set config.update_multi to true.');
    const recent = this.patches.filter((p) => p !== request && p.messageId === messageId && p.code === 0 && request.at - p.at < 1000).length;
    if (recent >= 5) return answer(400, 230020, 'This operation triggers the frequency limit.');
    request.content = content;
    answer(200, 0, 'success');
  }

  private upload(req: IncomingMessage, res: ServerResponse, kind: Upload['kind'], raw: Buffer): void {
    const parts = parseMultipart(String(req.headers['content-type'] ?? ''), raw);
    if (!parts) return json(res, 400, { code: 234001, msg: 'Invalid request param: not multipart/form-data' });
    const fields: Record<string, string> = {};
    let file: { data: Buffer; filename?: string } | undefined;
    for (const part of parts) {
      if (part.name === kind) file = part;
      else fields[part.name] = part.data.toString('utf8');
    }
    if (!file || file.data.length === 0) return json(res, 400, { code: 234006, msg: `${kind} is required and must not be empty` });
    if (kind === 'image' && fields.image_type !== 'message') return json(res, 400, { code: 234001, msg: 'image_type must be message or avatar' });
    if (kind === 'file' && (!fields.file_type || !fields.file_name)) return json(res, 400, { code: 234001, msg: 'file_type and file_name are required' });
    const key = kind === 'image' ? `img_v3_${++this.counter}` : `file_v3_${++this.counter}`;
    this.uploads.push({ kind, key, fields, bytes: file.data, filename: file.filename });
    json(res, 200, { code: 0, msg: 'success', data: kind === 'image' ? { image_key: key } : { file_key: key } });
  }
}

/** Lark's event encryption: base64(iv + AES-256-CBC(sha256(encryptKey), iv, plaintext)). */
export function encrypt(encryptKey: string, plaintext: string, iv: Buffer = randomBytes(16)): string {
  const cipher = createCipheriv('aes-256-cbc', createHash('sha256').update(encryptKey).digest(), iv);
  return Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

export function sign(timestamp: string, nonce: string, encryptKey: string, body: string): string {
  return createHash('sha256').update(timestamp + nonce + encryptKey + body).digest('hex');
}

function parseMultipart(contentType: string, raw: Buffer): { name: string; filename?: string; data: Buffer }[] | undefined {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!contentType.startsWith('multipart/form-data') || !boundary) return undefined;
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const parts: { name: string; filename?: string; data: Buffer }[] = [];
  let at = raw.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (raw.subarray(start, start + 2).toString() === '--') break;
    const next = raw.indexOf(delimiter, start);
    if (next === -1) break;
    const part = raw.subarray(start + 2, next - 2); // skip the CRLF after the delimiter and before the next
    const split = part.indexOf('\r\n\r\n');
    const head = part.subarray(0, split).toString('utf8');
    const name = /name="([^"]*)"/.exec(head)?.[1];
    const filename = /filename="([^"]*)"/.exec(head)?.[1];
    if (name !== undefined) parts.push({ name, ...(filename !== undefined ? { filename } : {}), data: part.subarray(split + 4) });
    at = next;
  }
  return parts;
}

/** Lark's answers carry a log id. */
function json(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  sendJson(res, status, body, { 'x-tt-logid': randomUUID(), ...headers });
}

// Events as Lark sends them (the 2.0 schema of im.message.receive_v1 and card.action.trigger).

let counter = 0;
const id = (prefix: string) => `${prefix}${(++counter).toString(16).padStart(4, '0')}${randomBytes(12).toString('hex')}`;

export const users = {
  alice: { union_id: 'on_alice000000000000000000000000a', user_id: 'alice1', open_id: 'ou_alice00000000000000000000000000a' },
  bob: { union_id: 'on_bob00000000000000000000000000b', user_id: 'bob1', open_id: 'ou_bob0000000000000000000000000000b' },
};

export interface MessageEventOptions {
  chatType?: 'p2p' | 'group';
  chatId?: string;
  messageId?: string;
  eventId?: string;
  sender?: keyof typeof users;
  mentions?: object[];
  parentId?: string;
  token?: string;
}

export function messageEvent(fake: FakeLark, messageType: string, content: object, options: MessageEventOptions = {}) {
  const sender = users[options.sender ?? 'alice'];
  const chatType = options.chatType ?? 'p2p';
  const chatId = options.chatId ?? (chatType === 'p2p' ? 'oc_p2p0000000000000000000000000001' : 'oc_group00000000000000000000000001');
  fake.chats.add(chatId);
  return {
    schema: '2.0',
    header: { event_id: options.eventId ?? id('5e3702a84e847582be8db7fb73283c'), token: options.token ?? fake.verificationToken, create_time: String(Date.now()), event_type: 'im.message.receive_v1', tenant_key: '2ca1d211f64f6438', app_id: fake.appId },
    event: {
      sender: { sender_id: sender, sender_type: 'user', tenant_key: '2ca1d211f64f6438' },
      message: {
        message_id: options.messageId ?? id('om_'),
        ...(options.parentId ? { root_id: options.parentId, parent_id: options.parentId } : {}),
        create_time: String(Date.now()),
        update_time: String(Date.now()),
        chat_id: chatId,
        chat_type: chatType,
        message_type: messageType,
        content: JSON.stringify(content),
        ...(options.mentions ? { mentions: options.mentions } : {}),
        user_agent: 'Mozilla/5.0 Lark/7.30.0',
      },
    },
  };
}

export const textEvent = (fake: FakeLark, text: string, options?: MessageEventOptions) => messageEvent(fake, 'text', { text }, options);

/** The mention entry Lark lists for an @_user_N placeholder. */
export function mention(key: string, who: { open_id: string; union_id?: string; user_id?: string }, name: string) {
  return { key, id: { union_id: who.union_id ?? '', user_id: who.user_id ?? '', open_id: who.open_id }, name, tenant_key: '2ca1d211f64f6438' };
}

export function cardActionEvent(fake: FakeLark, value: object, options: { chatId?: string; messageId?: string; operator?: keyof typeof users } = {}) {
  const chatId = options.chatId ?? 'oc_group00000000000000000000000001';
  fake.chats.add(chatId);
  return {
    schema: '2.0',
    header: { event_id: id('card'), token: fake.verificationToken, create_time: String(Date.now() * 1000), event_type: 'card.action.trigger', tenant_key: '2ca1d211f64f6438', app_id: fake.appId },
    event: {
      operator: { tenant_key: '2ca1d211f64f6438', ...users[options.operator ?? 'alice'] },
      token: 'c-card-update-token',
      action: { value, tag: 'button' },
      host: 'im_message',
      context: { open_message_id: options.messageId ?? id('om_'), open_chat_id: chatId },
    },
  };
}
