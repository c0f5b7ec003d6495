// A fake Telegram Bot API on 127.0.0.1 that speaks the real wire format, so the real
// node-telegram-bot-api client can be pointed at it through `apiRoot`.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenLocal } from './http.js';

export interface RecordedCall {
  method: string;
  params: Record<string, string>;
  files: Record<string, { filename: string; contentType: string; data: Buffer }>;
  contentType: string;
  at: number;
  /** The HTTP status it was answered with, once answered. */
  status?: number;
  /** The message_id of the Message it was answered with. */
  messageId?: number;
}

type Json = Record<string, unknown>;
interface ApiError {
  error_code: number;
  description?: string;
  retry_after?: number;
}

const conflictPolling = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
const conflictWebhook = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";

export class FakeTelegram {
  readonly token: string;
  readonly calls: RecordedCall[] = [];
  url = '';
  webhook: { url: string; secret_token?: string } | null = null;
  getUpdatesConcurrencyPeak = 0;
  /** Long polls answered 409 because another getUpdates came while they were pending: two pollers at once. */
  conflicts = 0;
  private readonly bot: { id: number; username: string; first_name: string };
  private readonly queue: Json[] = [];
  private readonly files = new Map<string, { data: Buffer; path: string }>();
  private readonly failures = new Map<string, { error: ApiError; times: number; after: number }>();
  private readonly waiting = new Set<() => void>();
  /** Ends each pending long poll with a 409, as a newer getUpdates does on the real Bot API. */
  private readonly pendingPolls = new Set<() => void>();
  private readonly callWaiters = new Set<() => void>();
  /** The bot's text messages as the chat shows them, by "chat:message_id": what an edit changes. */
  private readonly texts = new Map<string, { text: string; tags: string; markup: string }>();
  private server: Server | undefined;
  private nextUpdateId = 1;
  private nextMessageId = 1000;
  private nextFileId = 1;
  private polling = 0;
  private stalled = false;
  private conflicting = false;

  constructor(options: { token?: string; botUser?: { id: number; username: string; first_name: string } } = {}) {
    this.token = options.token ?? '123456:TEST-token';
    this.bot = options.botUser ?? { id: 999, username: 'switchboard_bot', first_name: 'Switchboard' };
  }

  async start(): Promise<string> {
    const server = createServer((req, res) => void this.route(req, res).catch(() => res.destroy()));
    this.url = await listenLocal(server);
    this.server = server;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.stalled = false;
    this.wakePollers();
    await closeServer(server);
  }

  pushUpdate(update: Json & { update_id?: number }): number {
    const update_id = update.update_id ?? this.nextUpdateId++;
    this.nextUpdateId = Math.max(this.nextUpdateId, update_id + 1);
    this.queue.push({ ...update, update_id });
    this.wakePollers();
    return update_id;
  }

  pushMessage(message: Json = {}): number {
    return this.pushUpdate({
      message: {
        message_id: this.nextMessageId++,
        date: Math.floor(Date.now() / 1000),
        chat: { id: 42, type: 'private', first_name: 'Alice' },
        from: { id: 42, is_bot: false, first_name: 'Alice', username: 'alice' },
        ...message,
      },
    });
  }

  /** The next `times` calls of `method` fail with `error`; with `after`, only once that many more have succeeded. */
  failNext(method: string, error: ApiError, times = 1, after = 0): void {
    this.failures.set(method, { error, times, after });
  }

  stallGetUpdates(on: boolean): void {
    this.stalled = on;
    if (!on) this.wakePollers();
  }

  conflict(on: boolean): void {
    this.conflicting = on;
  }

  addFile(fileId: string, data: Buffer, path = `documents/${fileId}`): void {
    this.files.set(fileId, { data, path });
  }

  /** Every send call, refused ones included (drafts are not messages: see drafts()). */
  sent(): RecordedCall[] {
    return this.calls.filter((c) => c.method.startsWith('send') && c.method !== 'sendMessageDraft');
  }

  /** The sendMessageDraft calls Telegram took: the previews a private chat showed. */
  drafts(): RecordedCall[] {
    return this.calls.filter((c) => c.method === 'sendMessageDraft' && c.status === 200);
  }

  /** The editMessageText calls, refused ones included. */
  edits(): RecordedCall[] {
    return this.calls.filter((c) => c.method === 'editMessageText');
  }

  /** The text a bot message shows now (after its edits), as Telegram renders it: tags parsed away. */
  textOf(chatId: number | string, messageId: number | string): string | undefined {
    return this.texts.get(`${chatId}:${messageId}`)?.text;
  }

  /** The user deleted a message: editing it fails from now on. */
  deleteMessage(chatId: number | string, messageId: number | string): void {
    this.texts.delete(`${chatId}:${messageId}`);
  }

  /** The send calls that made a message: what the chat shows. */
  delivered(): RecordedCall[] {
    return this.sent().filter((c) => c.status === 200);
  }

  async waitForCall(method: string, predicate: (c: RecordedCall) => boolean = () => true, timeoutMs = 3000): Promise<RecordedCall> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.calls.find((c) => c.method === method && predicate(c));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${method} call within ${timeoutMs} ms; seen: ${[...new Set(this.calls.map((c) => c.method))].join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        const callWaiters = this.callWaiters;
        function done() {
          clearTimeout(timer);
          callWaiters.delete(done);
          resolve();
        }
        callWaiters.add(done);
      });
    }
  }

  /** POSTs an update to the registered webhook the way Telegram does. */
  async deliverWebhook(update: Json, options: { secret?: string | null; rawBody?: string } = {}): Promise<{ status: number; body: string }> {
    if (!this.webhook) throw new Error('no webhook is set');
    const body = options.rawBody ?? JSON.stringify({ update_id: this.nextUpdateId++, ...update });
    const secret = options.secret === undefined ? this.webhook.secret_token : options.secret;
    const res = await fetch(this.webhook.url, { method: 'POST', headers: { 'content-type': 'application/json', ...(secret ? { 'x-telegram-bot-api-secret-token': secret } : {}) }, body });
    return { status: res.status, body: await res.text() };
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (req.method === 'GET' && file) return this.serveFile(file[1]!, decodeURIComponent(file[2]!), res);
    const call = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    if (!call) return reply(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    if (call[1] !== this.token) return reply(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const recorded = await record(call[2]!, req, url);
    this.calls.push(recorded);
    this.wakeCallers();
    // Woken again once answered: a wait may be for the answer's status.
    await this.respond(recorded, req, res).finally(() => this.wakeCallers());
  }

  private wakeCallers(): void {
    for (const wake of [...this.callWaiters]) wake();
  }

  private async respond(recorded: RecordedCall, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const failure = this.failures.get(recorded.method);
    if (failure && failure.after > 0) failure.after--;
    else if (failure) {
      if (--failure.times <= 0) this.failures.delete(recorded.method);
      const { error_code, description, retry_after } = failure.error;
      recorded.status = error_code;
      return reply(res, error_code, { ok: false, error_code, description: description ?? `Error ${error_code}`, ...(retry_after !== undefined ? { parameters: { retry_after } } : {}) });
    }
    const result = await this.answer(recorded, req);
    if (result === undefined) return; // the request was left hanging (a stalled long poll) or already answered
    if ('error_code' in result) {
      recorded.status = result.error_code;
      return reply(res, result.error_code, { ok: false, ...result });
    }
    recorded.status = 200;
    recorded.messageId = (result.value as { message_id?: number } | null)?.message_id;
    reply(res, 200, { ok: true, result: result.value });
  }

  private async answer({ method, params, files }: RecordedCall, req: IncomingMessage): Promise<{ value: unknown } | { error_code: number; description: string } | undefined> {
    switch (method) {
      case 'getMe':
        return { value: { ...this.bot, is_bot: true, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false } };
      case 'getUpdates':
        return this.getUpdates(params, req);
      case 'setWebhook':
        this.webhook = { url: params.url!, ...(params.secret_token ? { secret_token: params.secret_token } : {}) };
        return { value: true };
      case 'deleteWebhook':
        this.webhook = null;
        if (params.drop_pending_updates === 'true') this.queue.length = 0;
        return { value: true };
      case 'getWebhookInfo':
        return { value: { url: this.webhook?.url ?? '', has_custom_certificate: false, pending_update_count: this.queue.length } };
      case 'getFile': {
        const found = this.files.get(params.file_id ?? '');
        if (!found) return { error_code: 400, description: 'Bad Request: invalid file_id' };
        return { value: { file_id: params.file_id, file_unique_id: `u-${params.file_id}`, file_size: found.data.length, file_path: found.path } };
      }
      case 'answerCallbackQuery':
      case 'sendChatAction':
        return { value: true };
      case 'sendMessage': {
        const sent = this.message(params, { text: visible(params) });
        this.texts.set(`${params.chat_id}:${sent.message_id as number}`, { text: visible(params), tags: tagsOf(params), markup: params.reply_markup ?? '' });
        return { value: sent };
      }
      case 'sendMessageDraft':
        return this.draft(params);
      case 'editMessageText':
        return this.editText(params);
      case 'sendPhoto':
      case 'sendDocument':
      case 'sendAudio':
      case 'sendVideo': {
        const field = method.slice(4).toLowerCase();
        const upload = files[field];
        let fileId = params[field];
        if (upload) this.addFile((fileId = `uploaded-${this.nextFileId++}`), upload.data, `${field}s/${upload.filename}`);
        if (!fileId) return { error_code: 400, description: `Bad Request: there is no ${field} in the request` };
        const media = field === 'photo' ? { photo: [{ file_id: fileId, file_unique_id: `u-${fileId}`, width: 1, height: 1 }] } : { [field]: { file_id: fileId, file_unique_id: `u-${fileId}`, file_name: upload?.filename, mime_type: upload?.contentType } };
        return { value: this.message(params, { ...media, caption: params.caption }) };
      }
      default:
        return { error_code: 404, description: 'Not Found: method not found' };
    }
  }

  /** A private chat's animated preview (https://core.telegram.org/bots/api#sendmessagedraft); answers True. */
  private draft(params: Record<string, string>): { value: true } | { error_code: number; description: string } {
    const draftId = Number(params.draft_id);
    if (!Number.isSafeInteger(draftId) || draftId === 0) return { error_code: 400, description: 'Bad Request: draft_id must be a non-zero integer' };
    // Drafts are for private chats (positive ids) only; the wording of this refusal is the fake's.
    if (!(Number(params.chat_id) > 0)) return { error_code: 400, description: 'Bad Request: TEXTDRAFT_PEER_INVALID' };
    if ((params.text ?? '').length > 4096) return { error_code: 400, description: 'Bad Request: text is too long' };
    return { value: true };
  }

  /** Answers the edited Message, or Telegram's 400s: an unknown (or deleted) message, a text identical to the shown one. */
  private editText(params: Record<string, string>): { value: unknown } | { error_code: number; description: string } {
    const key = `${params.chat_id}:${params.message_id}`;
    const shown = this.texts.get(key);
    if (!shown) return { error_code: 400, description: 'Bad Request: message to edit not found' };
    const text = visible(params);
    if (text === '') return { error_code: 400, description: 'Bad Request: message text is empty' };
    if (text.length > 4096) return { error_code: 400, description: 'Bad Request: MESSAGE_TOO_LONG' };
    const markup = params.reply_markup ?? '';
    const tags = tagsOf(params);
    if (text === shown.text && tags === shown.tags && markup === shown.markup)
      return { error_code: 400, description: 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message' };
    this.texts.set(key, { text, tags, markup });
    return { value: this.message(params, { text, edit_date: Math.floor(Date.now() / 1000) }, Number(params.message_id)) };
  }

  /** Long poll: confirm updates below offset, answer at once with what is queued, else hold up to `timeout` seconds. A newer getUpdates ends a pending one with 409, as on the real Bot API. */
  private async getUpdates(params: Record<string, string>, req: IncomingMessage): Promise<{ value: unknown } | { error_code: number; description: string } | undefined> {
    if (this.conflicting) return { error_code: 409, description: conflictPolling };
    if (this.webhook) return { error_code: 409, description: conflictWebhook };
    this.getUpdatesConcurrencyPeak = Math.max(this.getUpdatesConcurrencyPeak, this.polling + 1);
    for (const terminate of [...this.pendingPolls]) terminate();
    const offset = Number(params.offset ?? 0);
    if (offset > 0) this.queue.splice(0, this.queue.length, ...this.queue.filter((u) => (u.update_id as number) >= offset));
    const timeoutMs = Number(params.timeout ?? 0) * 1000;
    this.polling++;
    let terminated = false;
    const terminate = () => {
      terminated = true;
      this.pendingPolls.delete(terminate);
      this.polling--;
      this.wakePollers();
    };
    this.pendingPolls.add(terminate);
    try {
      const deadline = Date.now() + timeoutMs;
      while (!terminated && (this.stalled || (this.queue.length === 0 && Date.now() < deadline))) {
        const closed = await this.idle(this.stalled ? 60_000 : deadline - Date.now(), req);
        if (closed) return undefined;
      }
      if (terminated) {
        this.conflicts++;
        return { error_code: 409, description: conflictPolling };
      }
      const limit = Number(params.limit ?? 100);
      return { value: this.queue.slice(0, limit) };
    } finally {
      if (!terminated) {
        this.pendingPolls.delete(terminate);
        this.polling--;
      }
    }
  }

  /** Waits for an update, a switch, or the client hanging up (then resolves true). */
  private idle(ms: number, req: IncomingMessage): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (closed: boolean) => {
        clearTimeout(timer);
        this.waiting.delete(wake);
        req.socket.off('close', hangUp);
        resolve(closed);
      };
      const wake = () => finish(false);
      const hangUp = () => finish(true);
      const timer = setTimeout(wake, Math.max(0, ms));
      this.waiting.add(wake);
      req.socket.once('close', hangUp);
    });
  }

  private wakePollers(): void {
    for (const wake of [...this.waiting]) wake();
  }

  private message(params: Record<string, string>, content: Json, id = this.nextMessageId++): Json {
    const chatId = Number(params.chat_id);
    const reply = params.reply_parameters ? (JSON.parse(params.reply_parameters) as { message_id: number }) : undefined;
    return {
      message_id: id,
      date: Math.floor(Date.now() / 1000),
      chat: { id: chatId, type: chatId < 0 ? 'group' : 'private' },
      from: { ...this.bot, is_bot: true },
      ...content,
      ...(reply ? { reply_to_message: { message_id: reply.message_id, date: 0, chat: { id: chatId, type: 'private' } } } : {}),
      ...(params.reply_markup ? { reply_markup: JSON.parse(params.reply_markup) as Json } : {}),
    };
  }

  private serveFile(token: string, path: string, res: ServerResponse): void {
    if (token !== this.token) return reply(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const found = [...this.files.values()].find((f) => f.path === path);
    if (!found) return reply(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': found.data.length }).end(found.data);
  }
}

/** Reads a Bot API call: query string, urlencoded or (chunked) multipart body alike. */
async function record(method: string, req: IncomingMessage, url: URL): Promise<RecordedCall> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  const contentType = req.headers['content-type'] ?? '';
  const params: Record<string, string> = Object.fromEntries(url.searchParams);
  const files: RecordedCall['files'] = {};
  if (contentType.startsWith('application/x-www-form-urlencoded')) Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
  else if (contentType.startsWith('application/json') && body.length > 0) for (const [k, v] of Object.entries(JSON.parse(body.toString('utf8')) as Json)) params[k] = typeof v === 'string' ? v : JSON.stringify(v);
  else if (contentType.startsWith('multipart/form-data')) {
    const form = await new Request('http://fake/', { method: 'POST', headers: { 'content-type': contentType }, body }).formData();
    for (const [key, value] of form) {
      if (typeof value === 'string') params[key] = value;
      else files[key] = { filename: value.name, contentType: value.type, data: Buffer.from(await value.arrayBuffer()) };
    }
  }
  return { method, params, files, contentType, at: Date.now() };
}

/** A message's text as the chat shows it: HTML tags parsed away, and trimmed (as Telegram does). */
function visible(params: Record<string, string>): string {
  const text = params.parse_mode === 'HTML' ? (params.text ?? '').replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&') : (params.text ?? '');
  return text.trim();
}

/** The formatting a text carries (its entities, roughly): compared by an edit along with the text. */
function tagsOf(params: Record<string, string>): string {
  return params.parse_mode === 'HTML' ? ((params.text ?? '').match(/<[^>]*>/g) ?? []).join('') : '';
}

function reply(res: ServerResponse, status: number, body: Json): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
