// A fake VK on 127.0.0.1: API methods as form POSTs to /method/<name> answered with {response}
// or {error}, messages.send with random_id idempotency (to peer_id or peer_ids), messages.edit,
// real multipart upload servers for photos and documents, the callback-server settings methods
// (which confirm the address as VK does), a CDN for users' files, and a sender that posts
// callbacks exactly as VK does.

import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, json, listenLocal, readBody } from './http.js';

export interface FakeCommunity {
  groupId: number;
  token: string;
  confirmation: string;
  secret: string;
}

export interface SentMessage {
  groupId: number;
  peerId: number;
  randomId: number;
  id: number;
  params: Record<string, string>;
  /** When VK took it (ms since the epoch). */
  at: number;
  /** The files behind each attachment, as uploaded. */
  attachments: { kind: 'photo' | 'doc'; data: Buffer; name: string; mime: string }[];
  /** Its number in its conversation (conversation_message_id): how a community edits it in a chat. */
  cmid: number;
}

/** A messages.edit VK took. */
export interface EditedMessage {
  /** The message's id (SentMessage.id). */
  id: number;
  params: Record<string, string>;
  at: number;
}

export interface CallbackServerEntry {
  id: number;
  groupId: number;
  url: string;
  title: string;
  secret_key: string;
  status: 'ok' | 'failed';
  settings?: Record<string, string>;
}

interface Stored {
  data: Buffer;
  name: string;
  mime: string;
  owner: number;
  key: string;
}

export class FakeVK {
  readonly communities: FakeCommunity[];
  readonly sent: SentMessage[] = [];
  /** Every API call: method, its params without access_token, and the error code (or HTTP status) it got. */
  readonly calls: { method: string; params: Record<string, string>; error?: number }[] = [];
  /** The messages.edit calls VK took, in order; `showing` gives what a message shows after them. */
  readonly edits: EditedMessage[] = [];
  readonly servers: CallbackServerEntry[] = [];
  /** What confirmation requests VK made while registering a server got back. */
  readonly confirmations: { url: string; status: number; body: string }[] = [];
  url = '';
  /** Answer every request with Connection: close, so each request needs a connection (and a proxy tunnel) of its own. */
  closeEachConnection = false;
  /** Off: VK cannot reach the URL of a server being added (a publicUrl that is not public), so the server is marked failed. */
  reachesUs = true;
  /** Manage > Messages > Bot settings > Bot abilities; off, VK refuses every keyboard with error 912. */
  botAbilities = true;
  /** Error codes the next calls of a method get, in order. */
  private readonly failures = new Map<string, number[]>();
  /** HTTP statuses the next calls of a method get (VK's frontend failing), in order. */
  private readonly httpFailures = new Map<string, number[]>();
  private readonly photos = new Map<string, Stored>();
  private readonly docs = new Map<string, Stored>();
  private readonly uploads = new Map<string, Stored>();
  private readonly files = new Map<string, { data: Buffer; mime: string }>();
  private readonly randomIds = new Map<string, number>();
  /** The last conversation_message_id given in each conversation (group:peer). */
  private readonly cmids = new Map<string, number>();
  private dropNextSendAnswer = false;
  private readonly holding = new Set<string>();
  /** Calls of held methods, never answered; `closed` once the caller gave up on the connection. */
  readonly held: { method: string; closed: boolean }[] = [];
  /** What the next upload POSTs get instead of a stored file: a VK upload error in the body, or a dropped connection. */
  private readonly uploadFailures: ('drop' | string)[] = [];
  private server: Server | undefined;
  private counter = 100;

  constructor(communities: FakeCommunity[]) {
    this.communities = communities;
  }

  get apiRoot(): string {
    return `${this.url}/method`;
  }

  /** The messages the bot sent that the platform took, in order: what its chats show. */
  delivered(): SentMessage[] {
    return this.sent.slice();
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.route(req, res).catch((error: Error) => json(res, 500, { message: error.message }));
    });
    this.url = await listenLocal(server);
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await closeServer(server);
  }

  /** What message `m` shows now: the text of its last edit, or what was sent. */
  showing(m: SentMessage): string {
    for (let i = this.edits.length - 1; i >= 0; i--) if (this.edits[i]!.id === m.id) return this.edits[i]!.params.message ?? '';
    return m.params.message ?? '';
  }

  /** The next `times` calls of `method` (after failures already queued) fail with VK error `code` (6: too many requests per second). */
  failNext(method: string, code: number, times = 1): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), ...Array<number>(times).fill(code)]);
  }

  /** The next call of `method` is answered with HTTP `status` and no VK answer, as VK's frontends do when the API behind them fails. */
  failNextHttp(method: string, status: number): void {
    this.httpFailures.set(method, [...(this.httpFailures.get(method) ?? []), status]);
  }

  /** Calls of `method` are never answered from now on (VK hanging). */
  hold(method: string): void {
    this.holding.add(method);
  }

  /** The next messages.send is carried out, but its answer is lost (the connection drops). */
  loseNextSendAnswer(): void {
    this.dropNextSendAnswer = true;
  }

  /** The next upload is refused as VK's upload servers refuse one (200 with {"error": reason}), or, with 'drop', its connection is cut. */
  failNextUpload(reason: 'drop' | string): void {
    this.uploadFailures.push(reason);
  }

  /** Serves bytes as VK's CDN serves a user's photo or document. */
  addFile(name: string, data: Buffer, mime: string): string {
    this.files.set(name, { data, mime });
    return `${this.url}/cdn/${name}`;
  }

  /** POSTs a callback the way VK does: JSON, with the community's secret unless told otherwise, X-Retry-Counter on a retry. */
  async deliver(hook: string, body: object, options: { retry?: number; rawBody?: string } = {}): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'VKCallbackAPI' };
    if (options.retry) headers['x-retry-counter'] = String(options.retry);
    return fetch(hook, { method: 'POST', headers, body: options.rawBody ?? JSON.stringify(body) });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (this.closeEachConnection) res.setHeader('connection', 'close');
    const raw = await readBody(req);
    if (req.method === 'GET' && url.pathname.startsWith('/cdn/')) {
      const file = this.files.get(url.pathname.slice(5));
      if (!file) return json(res, 404, { error: 'not found' });
      res.writeHead(200, { 'content-type': file.mime, 'content-length': file.data.length });
      return void res.end(file.data);
    }
    const upload = /^\/upload\/(photo|doc)\/(\d+)$/.exec(url.pathname);
    if (req.method === 'POST' && upload) return this.receiveUpload(req, res, raw, upload[1] as 'photo' | 'doc', Number(upload[2]), url.searchParams.get('sig') ?? '');
    const method = /^\/method\/([\w.]+)$/.exec(url.pathname)?.[1];
    if (req.method !== 'POST' || !method || !String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return json(res, 404, { error: 'no such route' });
    const params = Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
    const { access_token: token, ...visible } = params;
    const call: (typeof this.calls)[number] = { method, params: visible };
    this.calls.push(call);
    const fail = (code: number, msg: string) => {
      call.error = code;
      // Like VK: request_params echo the call, never the token.
      json(res, 200, { error: { error_code: code, error_msg: msg, request_params: Object.entries({ method, ...visible }).map(([key, value]) => ({ key, value })) } });
    };
    const community = this.communities.find((c) => c.token === token);
    if (!community) return fail(5, 'User authorization failed: invalid access_token (4).');
    if (params.v !== '5.199') return fail(8, 'Invalid request: v (version) is required');
    if (this.holding.has(method)) {
      const entry = { method, closed: false };
      this.held.push(entry);
      return void res.on('close', () => (entry.closed = true));
    }
    const httpFailure = this.httpFailures.get(method)?.shift();
    if (httpFailure !== undefined) {
      call.error = httpFailure;
      res.writeHead(httpFailure, { 'content-type': 'text/html' });
      return void res.end(`<html><body><h1>${httpFailure}</h1></body></html>`);
    }
    const failure = this.failures.get(method)?.shift();
    if (failure !== undefined) return fail(failure, errorMessages[failure] ?? 'Unknown error occurred');
    const answer = (response: unknown) => json(res, 200, { response });
    const groupArg = Number(params.group_id ?? community.groupId);
    if (groupArg !== community.groupId) return fail(15, 'Access denied: no access to this group');
    switch (method) {
      case 'messages.send':
        return this.send(req, res, community, params, answer, fail);
      case 'messages.edit':
        return this.edit(community, params, answer, fail);
      case 'photos.getMessagesUploadServer':
      case 'docs.getMessagesUploadServer': {
        const kind = method.startsWith('photos') ? 'photo' : 'doc';
        const sig = randomBytes(8).toString('hex');
        return answer({ upload_url: `${this.url}/upload/${kind}/${community.groupId}?sig=${sig}`, album_id: -3, group_id: community.groupId });
      }
      case 'photos.saveMessagesPhoto': {
        const stored = this.uploads.get(`photo:${params.photo}`);
        if (!stored || params.hash !== hashOf(params.photo!) || params.server !== '777') return fail(100, 'One of the parameters specified was missing or invalid: photo is undefined');
        const id = ++this.counter;
        this.photos.set(`${stored.owner}_${id}`, stored);
        return answer([{ id, owner_id: stored.owner, access_key: stored.key, album_id: -3, date: 0, sizes: [{ type: 'x', width: 1, height: 1, url: `${this.url}/cdn/none` }] }]);
      }
      case 'docs.save': {
        const stored = this.uploads.get(`doc:${params.file}`);
        if (!stored) return fail(1150, 'Invalid document id');
        const id = ++this.counter;
        this.docs.set(`${stored.owner}_${id}`, { ...stored, name: params.title ?? stored.name });
        return answer({ type: 'doc', doc: { id, owner_id: stored.owner, title: params.title ?? stored.name, size: stored.data.length, ext: stored.name.split('.').pop(), url: `${this.url}/cdn/none`, date: 0, type: 8 } });
      }
      case 'groups.getCallbackConfirmationCode':
        return answer({ code: community.confirmation });
      case 'groups.deleteCallbackServer': {
        const index = this.servers.findIndex((s) => s.id === Number(params.server_id) && s.groupId === community.groupId);
        if (index < 0) return fail(100, 'One of the parameters specified was missing or invalid: server_id is invalid');
        this.servers.splice(index, 1);
        return answer(1);
      }
      case 'groups.getCallbackServers': {
        const items = this.servers.filter((s) => s.groupId === community.groupId).map(({ groupId, settings, ...s }) => ({ ...s, creator_id: 1 }));
        return answer({ count: items.length, items });
      }
      case 'groups.addCallbackServer': {
        if (!params.url || !params.title) return fail(100, 'One of the parameters specified was missing or invalid: url is undefined');
        const entry: CallbackServerEntry = { id: ++this.counter, groupId: community.groupId, url: params.url, title: params.title, secret_key: params.secret_key ?? '', status: 'failed' };
        this.servers.push(entry);
        await this.confirm(entry, community);
        return answer({ server_id: entry.id });
      }
      case 'groups.editCallbackServer': {
        const entry = this.servers.find((s) => s.id === Number(params.server_id) && s.groupId === community.groupId);
        if (!entry) return fail(100, 'One of the parameters specified was missing or invalid: server_id is invalid');
        Object.assign(entry, { url: params.url, title: params.title, secret_key: params.secret_key ?? '' });
        return answer(1);
      }
      case 'groups.setCallbackSettings': {
        const entry = this.servers.find((s) => s.id === Number(params.server_id) && s.groupId === community.groupId);
        if (!entry) return fail(100, 'One of the parameters specified was missing or invalid: server_id is invalid');
        const { group_id, server_id, v, ...settings } = visible;
        entry.settings = { ...entry.settings, ...settings };
        return answer(1);
      }
      default:
        return fail(3, 'Unknown method passed');
    }
  }

  private send(req: IncomingMessage, res: ServerResponse, community: FakeCommunity, params: Record<string, string>, answer: (r: unknown) => void, fail: (code: number, msg: string) => void): void {
    // peer_ids (one or more, comma-separated) answers with an object per peer; the fake serves one.
    const many = params.peer_ids !== undefined;
    const peerId = Number(many ? params.peer_ids : params.peer_id);
    if (!Number.isInteger(peerId) || peerId === 0) return fail(100, 'One of the parameters specified was missing or invalid: peer_id is undefined');
    if (!/^-?\d+$/.test(params.random_id ?? '')) return fail(100, 'One of the parameters specified was missing or invalid: random_id is a required parameter');
    if (!params.message && !params.attachment) return fail(100, 'One of the parameters specified was missing or invalid: message is empty or invalid');
    if ((params.message ?? '').length > 4096) return fail(914, 'Message is too long');
    if (params.keyboard && !this.botAbilities) return fail(912, errorMessages[912]!);
    const attachments: SentMessage['attachments'] = [];
    for (const ref of params.attachment ? params.attachment.split(',') : []) {
      const match = /^(photo|doc)(-?\d+)_(\d+)(?:_(\w+))?$/.exec(ref);
      const stored = match && (match[1] === 'photo' ? this.photos : this.docs).get(`${match[2]}_${match[3]}`);
      if (!match || !stored || (match[1] === 'photo' && match[4] !== stored.key)) return fail(100, `One of the parameters specified was missing or invalid: attachment ${ref} is invalid`);
      attachments.push({ kind: match[1] as 'photo' | 'doc', data: stored.data, name: stored.name, mime: stored.mime });
    }
    // random_id: the same id to the same peer is not sent twice; VK answers with the first message's id.
    const idempotency = `${community.groupId}:${peerId}:${params.random_id}`;
    let id = this.randomIds.get(idempotency);
    if (id === undefined || params.random_id === '0') {
      id = ++this.counter;
      this.randomIds.set(idempotency, id);
      const conversation = `${community.groupId}:${peerId}`;
      const cmid = (this.cmids.get(conversation) ?? 0) + 1;
      this.cmids.set(conversation, cmid);
      this.sent.push({ groupId: community.groupId, peerId, randomId: Number(params.random_id), id, params, at: Date.now(), attachments, cmid });
    }
    if (this.dropNextSendAnswer) {
      this.dropNextSendAnswer = false;
      return void req.socket.destroy();
    }
    const message = this.sent.find((m) => m.id === id)!;
    answer(many ? [{ peer_id: peerId, message_id: id, conversation_message_id: message.cmid }] : id);
  }

  /** messages.edit: a message of this community, found by message_id or (peer_id and) conversation_message_id. */
  private edit(community: FakeCommunity, params: Record<string, string>, answer: (r: unknown) => void, fail: (code: number, msg: string) => void): void {
    const peerId = Number(params.peer_id);
    const message = this.sent.find(
      (m) => m.groupId === community.groupId && m.peerId === peerId && (params.conversation_message_id !== undefined ? m.cmid === Number(params.conversation_message_id) : m.id === Number(params.message_id)),
    );
    if (!message) return fail(100, 'One of the parameters specified was missing or invalid: message_id or conversation_message_id is invalid');
    if (!params.message && !params.attachment) return fail(100, 'One of the parameters specified was missing or invalid: message is empty or invalid');
    if ((params.message ?? '').length > 4096) return fail(914, 'Message is too long');
    if (params.keyboard && !this.botAbilities) return fail(912, errorMessages[912]!);
    this.edits.push({ id: message.id, params, at: Date.now() });
    answer(1);
  }

  /** An upload server: a real multipart body, one file in the named field. */
  private async receiveUpload(req: IncomingMessage, res: ServerResponse, raw: Buffer, kind: 'photo' | 'doc', groupId: number, sig: string): Promise<void> {
    if (!/^[0-9a-f]{16}$/.test(sig)) return json(res, 200, { error: 'ERR_UPLOAD_BAD_SIGNATURE' });
    const failure = this.uploadFailures.shift();
    if (failure === 'drop') return void req.socket.destroy();
    if (failure !== undefined) return json(res, 200, { error: failure });
    const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': String(req.headers['content-type']) } }).formData().catch(() => undefined);
    const file = form?.get(kind === 'photo' ? 'photo' : 'file');
    if (!(file instanceof File)) return json(res, 200, kind === 'photo' ? { server: 777, photo: '[]', hash: hashOf('[]') } : { error: 'no_file' });
    const stored: Stored = { data: Buffer.from(await file.arrayBuffer()), name: file.name, mime: file.type, owner: -groupId, key: randomBytes(9).toString('hex') };
    if (kind === 'photo') {
      const photo = JSON.stringify([{ photo: randomBytes(6).toString('hex'), sizes: [], kid: randomBytes(4).toString('hex') }]);
      this.uploads.set(`photo:${photo}`, stored);
      return json(res, 200, { server: 777, photo, hash: hashOf(photo) });
    }
    const token = `${groupId}|0|${randomBytes(12).toString('hex')}`;
    this.uploads.set(`doc:${token}`, stored);
    json(res, 200, { file: token });
  }

  /** Like VK when a server is added: a confirmation request, and the server works only if the answer is the community's string. */
  private async confirm(entry: CallbackServerEntry, community: FakeCommunity): Promise<void> {
    if (!this.reachesUs) return void (entry.status = 'failed');
    const response = await this.deliver(entry.url, { type: 'confirmation', group_id: community.groupId, secret: entry.secret_key || undefined });
    const body = await response.text();
    this.confirmations.push({ url: entry.url, status: response.status, body });
    entry.status = response.status === 200 && body === community.confirmation ? 'ok' : 'failed';
  }
}

const errorMessages: Record<number, string> = {
  6: 'Too many requests per second',
  9: 'Flood control',
  909: "Can't edit this message, because it's too old",
  10: 'Internal server error',
  901: "Can't send messages for users without permission",
  912: 'This is a chat bot feature, change this status in settings',
};

function hashOf(value: string): string {
  return createHash('md5').update(`fake-vk:${value}`).digest('hex');
}

// Callbacks as VK sends them (API 5.199).

let conversationMessageId = 0;
let messageId = 5000;

export function eventId(): string {
  return randomBytes(20).toString('hex');
}

export function callback(community: FakeCommunity, type: string, object: object, options: { secret?: string | null } = {}): Record<string, unknown> {
  const secret = options.secret === undefined ? community.secret : options.secret;
  return { group_id: community.groupId, type, event_id: eventId(), v: '5.199', object, ...(secret === null ? {} : { secret }) };
}

export interface MessageOptions {
  peerId?: number;
  fromId?: number;
  attachments?: object[];
  reply_message?: object;
  fwd_messages?: object[];
  payload?: string;
}

/** A message_new event: in a dialog (peer_id = the user) or, with peerId >= 2e9, in a chat, where a community sees id 0. */
export function messageNew(community: FakeCommunity, text: string, options: MessageOptions = {}): Record<string, unknown> {
  const fromId = options.fromId ?? 1001;
  const peerId = options.peerId ?? fromId;
  const message = {
    date: Math.floor(Date.now() / 1000),
    from_id: fromId,
    id: peerId >= 2e9 ? 0 : ++messageId,
    out: 0,
    version: 10_000_000 + messageId,
    attachments: options.attachments ?? [],
    conversation_message_id: ++conversationMessageId,
    fwd_messages: options.fwd_messages ?? [],
    important: false,
    is_hidden: false,
    peer_id: peerId,
    random_id: 0,
    text,
    ...(options.reply_message ? { reply_message: options.reply_message } : {}),
    ...(options.payload ? { payload: options.payload } : {}),
  };
  return callback(community, 'message_new', { message, client_info: { button_actions: ['text', 'vkpay', 'open_app', 'location', 'open_link', 'callback'], keyboard: true, inline_keyboard: true, carousel: true, lang_id: 0 } });
}
