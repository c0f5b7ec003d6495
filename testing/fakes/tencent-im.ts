// A fake Tencent Cloud IM on 127.0.0.1: the REST routes the adapter uses (openim/sendmsg,
// group_open_http_svc/send_group_msg, the modify calls openim/modify_c2c_msg and modify_group_msg),
// each call's UserSig verified for real (base64url with * - _, inflate, HMAC-SHA256 over the TLS.*
// lines with the app key), a storage host for users' files, and a sender that posts callbacks
// exactly as Tencent does (query string, Sign).

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { inflateSync } from 'node:zlib';
import { closeServer, json, listenLocal, readBody } from './http.js';

export interface SentMessage {
  kind: 'c2c' | 'group';
  /** To_Account or GroupId. */
  to: string;
  body: Record<string, any>;
}

/** A modify call the fake took (modify_c2c_msg, modify_group_msg). */
export interface Modification {
  /** The message's id as its send answered: its MsgKey, or GroupId:MsgSeq. */
  id: string;
  body: Record<string, any>;
  /** When it arrived (Date.now()). */
  at: number;
}

export interface RestCall {
  path: string;
  identifier: string;
  userSig: string;
  /** The ErrorCode the fake answered with (0 = OK; minus the HTTP status for a failHttpNext answer). */
  code: number;
}

export type UserSigCheck = { ok: true; expiresAt: number } | { ok: false; code: number; reason: string };

/** Verifies a UserSig the way Tencent's backend does (TLS sig v2, HMAC-SHA256). */
export function verifyUserSig(sig: string, expect: { sdkAppId: number; key: string; identifier: string }, nowSeconds = Math.floor(Date.now() / 1000)): UserSigCheck {
  let doc: Record<string, unknown>;
  try {
    const base64 = sig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
    doc = JSON.parse(inflateSync(Buffer.from(base64, 'base64')).toString('utf8')) as Record<string, unknown>;
  } catch {
    return { ok: false, code: 70003, reason: 'UserSig could not be decoded' };
  }
  const { 'TLS.ver': ver, 'TLS.identifier': identifier, 'TLS.sdkappid': sdkAppId, 'TLS.time': time, 'TLS.expire': expire, 'TLS.sig': given } = doc;
  if (ver !== '2.0' || typeof given !== 'string') return { ok: false, code: 70003, reason: 'not a v2 UserSig' };
  if (identifier !== expect.identifier) return { ok: false, code: 70013, reason: 'UserSig identifier differs from the request identifier' };
  if (sdkAppId !== expect.sdkAppId) return { ok: false, code: 70014, reason: 'UserSig sdkappid differs from the request sdkappid' };
  const content = `TLS.identifier:${String(identifier)}\nTLS.sdkappid:${String(sdkAppId)}\nTLS.time:${String(time)}\nTLS.expire:${String(expire)}\n`;
  const expected = Buffer.from(createHmac('sha256', expect.key).update(content).digest('base64'));
  const actual = Buffer.from(given);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return { ok: false, code: 70009, reason: 'UserSig verification failed' };
  const expiresAt = Number(time) + Number(expire);
  if (!(expiresAt > nowSeconds)) return { ok: false, code: 70001, reason: 'UserSig expired' };
  return { ok: true, expiresAt };
}

export function sign(token: string, requestTime: number | string): string {
  return createHash('sha256').update(`${token}${requestTime}`).digest('hex');
}

export interface CallbackOptions {
  /** Sign with this token (default: the fake's callbackToken); null sends neither RequestTime nor Sign. */
  token?: string | null;
  requestTime?: number;
  sign?: string;
  sdkAppId?: string | null;
  optPlatform?: string;
  rawBody?: string;
}

export class FakeTencentIM {
  readonly sdkAppId = 1400000001;
  readonly secretKey = '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e';
  readonly admin = 'administrator';
  readonly bot = 'bot';
  readonly callbackToken = 'cb-token-0123456789';
  readonly sent: SentMessage[] = [];
  readonly calls: RestCall[] = [];
  /** The modify calls taken, in order; `showing` gives what a message shows after them. */
  readonly modifications: Modification[] = [];
  /** Each sent message's id (MsgKey, or GroupId:MsgSeq) and when it was sent. */
  private readonly sentIds = new Map<SentMessage, { id: string; at: number }>();
  /** Paths of the users' files someone fetched from the storage host. */
  readonly fileRequests: string[] = [];
  url = '';
  private readonly files = new Map<string, { data: Buffer; mime: string }>();
  private readonly failures = new Map<string, { code: number; info: string; times: number }>();
  private readonly httpFailures = new Map<string, { status: number; times: number }>();
  private readonly hugeReplies = new Set<string>();
  private server: Server | undefined;
  private seq = 0;

  /** The messages the bot sent that the platform took, in order: what its chats show. */
  delivered(): SentMessage[] {
    return this.sent.slice();
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.route(req, res).catch((error: Error) => json(res, 500, { ActionStatus: 'FAIL', ErrorCode: 1, ErrorInfo: error.message }));
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

  /** Message `m`'s id as its send answered: its MsgKey, or GroupId:MsgSeq. */
  idOf(m: SentMessage): string {
    return this.sentIds.get(m)!.id;
  }

  /** When message `m` was sent (Date.now()). */
  sentAt(m: SentMessage): number {
    return this.sentIds.get(m)!.at;
  }

  /** The text message `m` shows now: its last modification's text elements, or what was sent. */
  showing(m: SentMessage): string {
    const id = this.idOf(m);
    let body = m.body.MsgBody as { MsgType: string; MsgContent: { Text?: string } }[];
    for (const change of this.modifications) if (change.id === id) body = change.body.MsgBody;
    return body.map((e) => (e.MsgType === 'TIMTextElem' ? e.MsgContent.Text : `[${e.MsgType}]`)).join('');
  }

  /** The next `times` calls to `path` (e.g. "openim/sendmsg") answer ActionStatus FAIL with this code. */
  failNext(path: string, code: number, info: string, times = 1): void {
    this.failures.set(path, { code, info, times });
  }

  /** The next `times` calls to `path` answer with this HTTP status (a gateway error page, not JSON), before any check. */
  failHttpNext(path: string, status: number, times = 1): void {
    this.httpFailures.set(path, { status, times });
  }

  /** The next call to `path` is answered with a 4 MB JSON reply (a misbehaving host or proxy). */
  hugeReplyNext(path: string): void {
    this.hugeReplies.add(path);
  }

  /** Serves bytes at a storage-like URL, as Tencent serves users' images and files. */
  addFile(name: string, data: Buffer, mime: string): string {
    this.files.set(name, { data, mime });
    return `${this.url}/files/${name}`;
  }

  /** POSTs a callback the way Tencent does: the command and app in the query string, signed when a token is on. */
  async callback(url: string, command: string, body: object, options: CallbackOptions = {}): Promise<Response> {
    const query = new URLSearchParams();
    const sdkAppId = options.sdkAppId === undefined ? String(this.sdkAppId) : options.sdkAppId;
    if (sdkAppId !== null) query.set('SdkAppid', sdkAppId);
    query.set('CallbackCommand', command);
    query.set('contenttype', 'json');
    query.set('ClientIP', '203.0.113.7');
    query.set('OptPlatform', options.optPlatform ?? 'Android');
    const token = options.token === undefined ? this.callbackToken : options.token;
    if (token !== null) {
      const requestTime = options.requestTime ?? Math.floor(Date.now() / 1000);
      query.set('RequestTime', String(requestTime));
      query.set('Sign', options.sign ?? sign(token, requestTime));
    }
    return fetch(`${url}?${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: options.rawBody ?? JSON.stringify({ CallbackCommand: command, ...body }) });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const raw = (await readBody(req)).toString('utf8');
    if (req.method === 'GET' && url.pathname.startsWith('/files/')) {
      this.fileRequests.push(url.pathname);
      const file = this.files.get(url.pathname.slice('/files/'.length));
      if (!file) return json(res, 404, {});
      res.writeHead(200, { 'content-type': file.mime, 'content-length': file.data.length });
      return void res.end(file.data);
    }
    const path = /^\/v4\/(.+)$/.exec(url.pathname)?.[1];
    if (req.method !== 'POST' || !path) return json(res, 404, {});
    const q = url.searchParams;
    const identifier = q.get('identifier') ?? '';
    const userSig = q.get('usersig') ?? '';
    const call: RestCall = { path, identifier, userSig, code: 0 };
    this.calls.push(call);
    if (this.hugeReplies.delete(path)) {
      call.code = -1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"ActionStatus":"OK","ErrorCode":0,"Padding":"');
      for (let i = 0; i < 64 && !res.destroyed; i++) res.write('x'.repeat(64 * 1024));
      return void res.end('"}');
    }
    const httpFailure = this.httpFailures.get(path);
    if (httpFailure) {
      if (--httpFailure.times <= 0) this.httpFailures.delete(path);
      call.code = -httpFailure.status;
      res.writeHead(httpFailure.status, { 'content-type': 'text/html' });
      return void res.end(`<html><body>${httpFailure.status} Bad Gateway: ${req.url}</body></html>`);
    }
    const fail = (code: number, info: string) => {
      call.code = code;
      json(res, 200, { ActionStatus: 'FAIL', ErrorCode: code, ErrorInfo: info });
    };
    if (q.get('sdkappid') !== String(this.sdkAppId)) return fail(60006, 'SDKAppID invalid');
    if (q.get('contenttype') !== 'json' || !/^\d{1,10}$/.test(q.get('random') ?? '')) return fail(60002, 'random and contenttype=json are required');
    if (identifier !== this.admin) return fail(60010, 'the request needs app admin permissions');
    const sig = verifyUserSig(userSig, { sdkAppId: this.sdkAppId, key: this.secretKey, identifier });
    if (!sig.ok) return fail(sig.code, sig.reason);
    const failure = this.failures.get(path);
    if (failure) {
      if (--failure.times <= 0) this.failures.delete(path);
      return fail(failure.code, failure.info);
    }
    let body: Record<string, any>;
    try {
      body = JSON.parse(raw) as Record<string, any>;
    } catch {
      return fail(60003, 'JSON parse error');
    }
    if (!Array.isArray(body.MsgBody) || body.MsgBody.length === 0) return fail(90001, 'MsgBody is required');
    if (path === 'openim/sendmsg') {
      if (typeof body.To_Account !== 'string' || typeof body.MsgRandom !== 'number') return fail(90001, 'To_Account and MsgRandom are required');
      const MsgKey = `${++this.seq}_${body.MsgRandom}_${Math.floor(Date.now() / 1000)}`;
      this.keep({ kind: 'c2c', to: body.To_Account, body }, MsgKey);
      return json(res, 200, { ActionStatus: 'OK', ErrorInfo: '', ErrorCode: 0, MsgTime: Math.floor(Date.now() / 1000), MsgKey });
    }
    if (path === 'group_open_http_svc/send_group_msg') {
      if (typeof body.GroupId !== 'string' || typeof body.Random !== 'number') return fail(10004, 'GroupId and Random are required');
      const MsgSeq = ++this.seq;
      this.keep({ kind: 'group', to: body.GroupId, body }, `${body.GroupId}:${MsgSeq}`);
      return json(res, 200, { ActionStatus: 'OK', ErrorInfo: '', ErrorCode: 0, MsgTime: Math.floor(Date.now() / 1000), MsgSeq });
    }
    // The admin's modify calls: a message the app sent, found by MsgKey (with both accounts) or by GroupId and MsgSeq.
    if (path === 'openim/modify_c2c_msg' || path === 'openim/modify_group_msg') {
      const id = path === 'openim/modify_c2c_msg' ? body.MsgKey : `${body.GroupId}:${body.MsgSeq}`;
      const message = [...this.sentIds].find(([, meta]) => meta.id === id)?.[0];
      const same = path === 'openim/modify_c2c_msg' ? message?.kind === 'c2c' && message.to === body.To_Account && message.body.From_Account === body.From_Account : message?.kind === 'group' && typeof body.MsgSeq === 'number';
      if (!message || !same) return fail(20001, 'request packet invalid: no such message');
      this.modifications.push({ id, body, at: Date.now() });
      return json(res, 200, { ActionStatus: 'OK', ErrorInfo: '', ErrorCode: 0 });
    }
    return fail(60009, `no such API ${path}`);
  }

  private keep(message: SentMessage, id: string): void {
    this.sent.push(message);
    this.sentIds.set(message, { id, at: Date.now() });
  }
}

// Callback bodies as Tencent sends them (shapes from the IM webhook docs).

let counter = 0;
const seconds = () => Math.floor(Date.now() / 1000);

export const text = (t: string) => ({ MsgType: 'TIMTextElem', MsgContent: { Text: t } });

export function c2c(from: string, to: string, body: object[], extra: Record<string, unknown> = {}) {
  const random = 100_000 + ++counter;
  return { From_Account: from, To_Account: to, MsgSeq: counter, MsgRandom: random, MsgTime: seconds(), MsgKey: `${counter}_${random}_${seconds()}`, OnlineOnlyFlag: 0, SendMsgResult: 0, ErrorInfo: 'send msg succeed', UnreadMsgNum: 1, MsgBody: body, CloudCustomData: '', EventTime: Date.now(), ...extra };
}

export function group(groupId: string, from: string, body: object[], extra: Record<string, unknown> = {}) {
  return { GroupId: groupId, Type: 'Public', From_Account: from, Operator_Account: from, Random: 200_000 + ++counter, MsgSeq: counter, MsgTime: seconds(), OnlineOnlyFlag: 0, MsgBody: body, CloudCustomData: '', EventTime: Date.now(), ...extra };
}
