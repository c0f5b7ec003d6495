// A fake WeCom on 127.0.0.1: the app server API (gettoken, message/send, appchat/send,
// media/upload, media/get) with access tokens that expire on demand (errcode 42001), the group
// robot's webhook/send and webhook/upload_media (key checked, image md5 checked, 20 sends a
// minute enforced as WeCom does), sends refused for a rate limit (errcode 45009) on demand, a CDN for
// images, and a callback sender that encrypts and signs like WeCom (WXBizMsgCrypt, written here
// independently of the adapter).

import { createCipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, json, listenLocal, readBody } from './http.js';

export interface Upload {
  via: 'app' | 'robot';
  type: string;
  mediaId: string;
  name: string;
  mime: string;
  data: Buffer;
}

export interface Sent {
  via: 'message/send' | 'appchat/send' | 'webhook/send';
  body: Record<string, any>;
}

export class FakeWecom {
  readonly corpId = 'ww5823bf96d3bd56c7';
  /** The app's secret; changed, it is as if rotated in the admin console (gettoken refuses the old one with 40001). */
  corpSecret = 'app-secret-' + randomUUID();
  readonly agentId = 1000002;
  readonly token = 'QDG6eKswitch';
  readonly encodingAESKey = randomBytes(32).toString('base64').slice(0, 43);
  readonly robotKey = randomUUID();
  url = '';
  readonly sent: Sent[] = [];
  readonly uploads: Upload[] = [];
  /** Every server API call, with the token it carried and the errcode it got. */
  readonly calls: { path: string; token: string; errcode: number }[] = [];
  readonly mediaGets: string[] = [];
  tokenRequests = 0;
  /** How many sends (webhook/send, message/send, appchat/send) to refuse next with errcode 45009. */
  rateLimited = 0;
  /** Sends refused with 45009 so far. */
  readonly throttled: string[] = [];
  /** Every send (webhook/send, message/send, appchat/send) as it reached the fake: when, and the errcode it got. */
  readonly attempts: { via: string; at: number; errcode: number }[] = [];
  /** The robot's own limit: at most `count` sends taken in any `windowMs` (WeCom: 20 a minute); over it, 45009. */
  robotLimit = { count: 20, windowMs: 60_000 };
  /** Bytes of padding in webhook/send's answer (a misbehaving server or proxy). */
  answerPadding = 0;
  private readonly tokens = new Map<string, boolean>();
  private readonly media = new Map<string, { data: Buffer; mime: string; name: string }>();
  private readonly cdn = new Map<string, { data: Buffer; mime: string }>();
  private server: Server | undefined;
  private counter = 0;

  /** The messages the bot sent that the platform took, in order: what its chats show. */
  delivered(): Sent[] {
    return this.sent.slice();
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.route(req, res).catch((error: Error) => json(res, 500, { errcode: -1, errmsg: error.message })));
    this.url = await listenLocal(server);
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await closeServer(server);
  }

  /** The robot's reply URL, as WeCom puts it in every callback. */
  get webhookUrl(): string {
    return `${this.url}/cgi-bin/webhook/send?key=${this.robotKey}`;
  }

  /** Every token issued so far is refused from now on with errcode 42001, as when it expires mid-run. */
  expireTokens(): void {
    for (const token of this.tokens.keys()) this.tokens.set(token, false);
  }

  /** A file WeCom holds under a media_id (as for a user's image sent to the app). */
  addMedia(data: Buffer, mime: string, name: string): string {
    const mediaId = `MEDIA_${++this.counter}_${randomUUID().slice(0, 8)}`;
    this.media.set(mediaId, { data, mime, name });
    return mediaId;
  }

  /** An image at a CDN URL (as the robot's ImageUrl). */
  addImage(name: string, data: Buffer, mime: string): string {
    this.cdn.set(name, { data, mime });
    return `${this.url}/cdn/${name}`;
  }

  /** POSTs an encrypted, signed callback to `url` the way WeCom does. */
  deliver(url: string, plainXml: string, options: DeliverOptions = {}): Promise<Response> {
    const { query, encrypted } = this.seal(plainXml, options);
    const body = options.rawBody ?? `<xml><ToUserName><![CDATA[${this.corpId}]]></ToUserName><Encrypt><![CDATA[${encrypted}]]></Encrypt><AgentID><![CDATA[${this.agentId}]]></AgentID></xml>`;
    return fetch(`${url}?${query}`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body });
  }

  /** WeCom's URL check: GET with an encrypted echostr. */
  verifyUrl(url: string, echo: string, options: DeliverOptions = {}): Promise<Response> {
    const { query, encrypted } = this.seal(echo, options);
    query.set('echostr', encrypted);
    return fetch(`${url}?${query}`);
  }

  private seal(plain: string, options: DeliverOptions): { query: URLSearchParams; encrypted: string } {
    const encrypted = options.encrypted ?? wxEncrypt(options.encodingAESKey ?? this.encodingAESKey, plain, options.receiveId ?? this.corpId);
    const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    const nonce = options.nonce ?? String(Math.floor(Math.random() * 1e9));
    const signature = options.signature ?? wxSign(options.token ?? this.token, timestamp, nonce, encrypted);
    return { query: new URLSearchParams({ msg_signature: signature, timestamp, nonce }), encrypted };
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const raw = await readBody(req);
    if (req.method === 'GET' && path.startsWith('/cdn/')) {
      const file = this.cdn.get(path.slice('/cdn/'.length));
      if (!file) return json(res, 404, { errcode: 404, errmsg: 'not found' });
      res.writeHead(200, { 'content-type': file.mime, 'content-length': file.data.length });
      return void res.end(file.data);
    }
    if (req.method === 'GET' && path === '/cgi-bin/gettoken') return this.issueToken(res, url.searchParams);
    if (path.startsWith('/cgi-bin/webhook/')) return this.robotApi(req, res, path, url.searchParams, raw);
    const token = url.searchParams.get('access_token') ?? '';
    const live = this.tokens.get(token);
    const errcode = live === undefined ? 40014 : live ? 0 : 42001;
    this.calls.push({ path, token, errcode });
    if (errcode === 40014) return json(res, 200, { errcode, errmsg: 'invalid access_token, hint: [1] from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=40014' });
    if (errcode === 42001) return json(res, 200, { errcode, errmsg: 'access_token expired, hint: [2] from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=42001' });
    if (req.method === 'POST' && path === '/cgi-bin/media/upload') return this.upload(res, 'app', url.searchParams.get('type') ?? '', req, raw);
    if (req.method === 'GET' && path === '/cgi-bin/media/get') {
      const mediaId = url.searchParams.get('media_id') ?? '';
      this.mediaGets.push(mediaId);
      const file = this.media.get(mediaId);
      if (!file) return json(res, 200, { errcode: 40007, errmsg: 'invalid media_id' });
      res.writeHead(200, { 'content-type': file.mime, 'content-disposition': `attachment; filename="${file.name}"`, 'content-length': file.data.length });
      return void res.end(file.data);
    }
    if (req.method === 'POST' && (path === '/cgi-bin/message/send' || path === '/cgi-bin/appchat/send')) {
      const body = JSON.parse(raw.toString('utf8')) as Record<string, any>;
      const via = path === '/cgi-bin/message/send' ? 'message/send' : 'appchat/send';
      const answer = (reply: { errcode: number; [field: string]: unknown }) => {
        this.attempts.push({ via, at: Date.now(), errcode: reply.errcode });
        json(res, 200, reply);
      };
      if (this.throttle(via)) return answer(freqOutOfLimit);
      if (via === 'message/send' && (body.agentid !== this.agentId || typeof body.touser !== 'string')) return answer({ errcode: 40056, errmsg: 'invalid agentid or touser' });
      if (via === 'appchat/send' && typeof body.chatid !== 'string') return answer({ errcode: 86003, errmsg: 'chat not found' });
      const problem = this.checkMessage(body);
      if (problem) return answer(problem);
      this.sent.push({ via, body });
      return answer(via === 'message/send' ? { errcode: 0, errmsg: 'ok', invaliduser: '', msgid: `msg-${++this.counter}` } : { errcode: 0, errmsg: 'ok' });
    }
    json(res, 404, { errcode: 404, errmsg: `no route ${req.method} ${path}` });
  }

  /** Whether this send is refused with 45009: asked for (rateLimited), or over the robot's own limit. */
  private throttle(via: string): boolean {
    const asked = this.rateLimited > 0;
    if (!asked && !(via === 'webhook/send' && this.overRobotLimit())) return false;
    if (asked) this.rateLimited--;
    this.throttled.push(via);
    return true;
  }

  /** Whether one more robot send now would pass robotLimit (counting the sends it took in the window). */
  private overRobotLimit(): boolean {
    const since = Date.now() - this.robotLimit.windowMs;
    const taken = this.attempts.filter((a) => a.via === 'webhook/send' && a.errcode === 0 && a.at > since).length;
    return taken >= this.robotLimit.count;
  }

  private issueToken(res: ServerResponse, query: URLSearchParams): void {
    this.tokenRequests++;
    if (query.get('corpid') !== this.corpId) return json(res, 200, { errcode: 40013, errmsg: 'invalid corpid' });
    if (query.get('corpsecret') !== this.corpSecret) return json(res, 200, { errcode: 40001, errmsg: 'invalid credential' });
    const token = `AT_${++this.counter}_${randomUUID().replace(/-/g, '')}`;
    this.tokens.set(token, true);
    json(res, 200, { errcode: 0, errmsg: 'ok', access_token: token, expires_in: 7200 });
  }

  private async robotApi(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, raw: Buffer): Promise<void> {
    if (query.get('key') !== this.robotKey) return json(res, 200, { errcode: 93000, errmsg: 'invalid webhook url' });
    if (req.method === 'POST' && path === '/cgi-bin/webhook/upload_media') {
      if (query.get('type') !== 'file') return json(res, 200, { errcode: 40004, errmsg: 'invalid media type' });
      return this.upload(res, 'robot', 'file', req, raw);
    }
    if (req.method !== 'POST' || path !== '/cgi-bin/webhook/send') return json(res, 404, { errcode: 404, errmsg: 'no route' });
    const answer = (reply: { errcode: number; [field: string]: unknown }) => {
      this.attempts.push({ via: 'webhook/send', at: Date.now(), errcode: reply.errcode });
      json(res, 200, reply);
    };
    if (this.throttle('webhook/send')) return answer(freqOutOfLimit);
    const body = JSON.parse(raw.toString('utf8')) as Record<string, any>;
    const problem = this.checkMessage(body);
    if (problem) return answer(problem);
    this.sent.push({ via: 'webhook/send', body });
    answer({ errcode: 0, errmsg: 'ok', ...(this.answerPadding > 0 ? { padding: 'x'.repeat(this.answerPadding) } : {}) });
  }

  /** WeCom's checks on a message body: sizes, a known media_id, an image's md5. */
  private checkMessage(body: Record<string, any>): { errcode: number; errmsg: string } | undefined {
    const type = body.msgtype as string;
    if (type === 'text' && (typeof body.text?.content !== 'string' || Buffer.byteLength(body.text.content) > 2048)) return { errcode: 44004, errmsg: 'text content is empty or too long' };
    if (type === 'markdown' && (typeof body.markdown?.content !== 'string' || Buffer.byteLength(body.markdown.content) > 4096)) return { errcode: 44004, errmsg: 'markdown content is empty or too long' };
    if (type === 'image' && body.image?.base64 !== undefined) {
      const data = Buffer.from(body.image.base64, 'base64');
      if (data.length > 2 * 1024 * 1024) return { errcode: 40009, errmsg: 'invalid image size' };
      if (createHash('md5').update(data).digest('hex') !== body.image.md5) return { errcode: 301019, errmsg: 'media md5 not match' };
      return undefined;
    }
    if (['image', 'voice', 'video', 'file'].includes(type) && !this.media.has(body[type]?.media_id)) return { errcode: 40007, errmsg: 'invalid media_id' };
    if (!['text', 'markdown', 'image', 'voice', 'video', 'file'].includes(type)) return { errcode: 40008, errmsg: 'invalid message type' };
    return undefined;
  }

  private upload(res: ServerResponse, via: 'app' | 'robot', type: string, req: IncomingMessage, raw: Buffer): void {
    const part = parseMultipart(String(req.headers['content-type'] ?? ''), raw);
    if (!part || part.field !== 'media') return json(res, 200, { errcode: 41005, errmsg: 'media data missing' });
    if (part.data.length <= 5) return json(res, 200, { errcode: 40006, errmsg: 'invalid file size' });
    if (!['image', 'voice', 'video', 'file'].includes(type)) return json(res, 200, { errcode: 40004, errmsg: 'invalid media type' });
    const mediaId = this.addMedia(part.data, part.mime, part.name);
    this.uploads.push({ via, type, mediaId, name: part.name, mime: part.mime, data: part.data });
    json(res, 200, { errcode: 0, errmsg: '', type, media_id: mediaId, created_at: String(Math.floor(Date.now() / 1000)) });
  }
}

const freqOutOfLimit = { errcode: 45009, errmsg: 'api freq out of limit, hint: [3], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=45009' };

export interface DeliverOptions {
  timestamp?: number;
  nonce?: string;
  signature?: string;
  token?: string;
  encodingAESKey?: string;
  /** The id sealed into the plaintext: the corp id by default; a robot callback's is "". */
  receiveId?: string;
  /** Ciphertext to send instead of the real one (signed unless `signature` is given). */
  encrypted?: string;
  rawBody?: string;
}

export function wxSign(token: string, timestamp: string, nonce: string, encrypted: string): string {
  return createHash('sha1').update([token, timestamp, nonce, encrypted].sort().join('')).digest('hex');
}

export function wxEncrypt(encodingAESKey: string, plain: string, receiveId: string): string {
  const key = Buffer.from(encodingAESKey + '=', 'base64');
  const msg = Buffer.from(plain, 'utf8');
  const len = Buffer.from([msg.length >>> 24, (msg.length >>> 16) & 0xff, (msg.length >>> 8) & 0xff, msg.length & 0xff]);
  const body = Buffer.concat([randomBytes(16), len, msg, Buffer.from(receiveId, 'utf8')]);
  const n = 32 - (body.length % 32);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.concat([body, Buffer.alloc(n, n)])), cipher.final()]).toString('base64');
}

function parseMultipart(contentType: string, raw: Buffer): { field: string; name: string; mime: string; data: Buffer } | undefined {
  const boundary = /boundary=([^;]+)/.exec(contentType)?.[1];
  if (!boundary) return undefined;
  const start = raw.indexOf(`--${boundary}\r\n`);
  const headEnd = raw.indexOf('\r\n\r\n', start);
  const end = raw.indexOf(`\r\n--${boundary}--`, headEnd);
  if (start < 0 || headEnd < 0 || end < 0) return undefined;
  const head = raw.subarray(start, headEnd).toString('utf8');
  const field = /name="([^"]*)"/.exec(head)?.[1] ?? '';
  return { field, name: /filename="([^"]*)"/.exec(head)?.[1] ?? '', mime: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1] ?? '', data: raw.subarray(headEnd + 4, end) };
}

// Callbacks as WeCom sends them (shapes from WeCom's callback docs).

let seq = 0;
const msgId = () => `CAIQ${Date.now()}${++seq}${randomUUID().slice(0, 6)}`;
const cdata = (value: string) => `<![CDATA[${value}]]>`;

export interface RobotOptions {
  chatId?: string;
  chatType?: 'group' | 'single';
  userId?: string;
  name?: string;
  msgId?: string;
}

function robotHead(webhookUrl: string, o: RobotOptions, type: string): string {
  return `<WebhookUrl> ${cdata(webhookUrl)}</WebhookUrl><MsgId>${o.msgId ?? msgId()}</MsgId><ChatId>${cdata(o.chatId ?? 'wrkSFfCgAALFgnrSsWU38puiv4yvExuw')}</ChatId><ChatType>${o.chatType ?? 'group'}</ChatType><From><UserId>${o.userId ?? 'zhangsan'}</UserId><Name>${cdata(o.name ?? '张三')}</Name><Alias>${cdata('jackzhang')}</Alias></From><GetChatInfoUrl>${cdata('https://qyapi.weixin.qq.com/cgi-bin/webhook/get_chat_info?code=CODE')}</GetChatInfoUrl><MsgType>${type}</MsgType>`;
}

export function robotText(webhookUrl: string, content: string, o: RobotOptions = {}): string {
  return `<xml>${robotHead(webhookUrl, o, 'text')}<Text><Content>${cdata(content)}</Content></Text></xml>`;
}

export function robotImage(webhookUrl: string, imageUrl: string, o: RobotOptions = {}): string {
  return `<xml>${robotHead(webhookUrl, { chatType: 'single', ...o }, 'image')}<Image><ImageUrl>${cdata(imageUrl)}</ImageUrl></Image></xml>`;
}

export function robotMixed(webhookUrl: string, text: string, imageUrl: string, o: RobotOptions = {}): string {
  return `<xml>${robotHead(webhookUrl, o, 'mixed')}<MixedMessage><MsgItem><MsgType>text</MsgType><Text><Content>${cdata(text)}</Content></Text></MsgItem><MsgItem><MsgType>image</MsgType><Image><ImageUrl>${cdata(imageUrl)}</ImageUrl></Image></MsgItem></MixedMessage></xml>`;
}

export function robotEvent(webhookUrl: string, event: string, o: RobotOptions = {}): string {
  return `<xml>${robotHead(webhookUrl, o, 'event')}<Event><EventType>${cdata(event)}</EventType></Event></xml>`;
}

export function appText(fake: FakeWecom, content: string, o: { user?: string; msgId?: string } = {}): string {
  return `<xml><ToUserName>${cdata(fake.corpId)}</ToUserName><FromUserName>${cdata(o.user ?? 'lisi')}</FromUserName><CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><MsgType>${cdata('text')}</MsgType><Content>${cdata(content)}</Content><MsgId>${o.msgId ?? `45612553542513${++seq}`}</MsgId><AgentID>${fake.agentId}</AgentID></xml>`;
}

export function appImage(fake: FakeWecom, mediaId: string, o: { user?: string; msgId?: string } = {}): string {
  return `<xml><ToUserName>${cdata(fake.corpId)}</ToUserName><FromUserName>${cdata(o.user ?? 'lisi')}</FromUserName><CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><MsgType>${cdata('image')}</MsgType><PicUrl>${cdata(`${fake.url}/cdn/never-fetched`)}</PicUrl><MediaId>${cdata(mediaId)}</MediaId><MsgId>${o.msgId ?? `45612553542514${++seq}`}</MsgId><AgentID>${fake.agentId}</AgentID></xml>`;
}
