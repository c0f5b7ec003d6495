// The Bot API call a reply makes, sent as one JSON POST. node-telegram-bot-api's Api keeps
// everything else (uploads, polling, webhooks, streaming edits): for a text send its transport
// form-encodes the parameters, builds a body per attempt and goes through a fetch shim and a
// stream, about a fifth of the Telegram echo's CPU (bench/README.md, "Where a's time goes"). The
// Bot API takes JSON as well as forms. Failures are the library's own error classes, so
// errors.ts reads both paths alike.

import type { Dispatcher } from 'undici';
import { NetworkError, ParseError, TelegramApiError, type Api, type Message } from 'node-telegram-bot-api';
import { exchange } from '../../src/net/exchange.js';

type SendMessageParams = Parameters<Api['sendMessage']>[0];

/** Telegram's answer to every call (https://core.telegram.org/bots/api#making-requests). */
interface Envelope<T> {
  ok: boolean;
  result?: T;
  error_code?: number;
  description?: string;
  parameters?: ConstructorParameters<typeof TelegramApiError>[2];
}

const jsonHeaders = { 'content-type': 'application/json' };

export class JsonBotApi {
  private readonly origin: string;
  /** /bot<token>/: holds the token, so it is never logged nor put in an error. */
  private readonly base: string;

  constructor(
    apiRoot: string,
    token: string,
    private readonly dispatcher: Dispatcher | undefined,
    /** Bounds the wait for the answer's headers and between its body's chunks, as the SDK's calls are bounded. */
    private readonly timeoutMs: number,
  ) {
    const root = new URL(`${apiRoot.replace(/\/+$/, '')}/`);
    this.origin = root.origin;
    this.base = `${root.pathname}bot${token}/`;
  }

  sendMessage(params: SendMessageParams): Promise<Message> {
    return this.call<Message>('sendMessage', params);
  }

  private async call<T>(method: string, params: object): Promise<T> {
    let status: number;
    let text: string;
    try {
      const answer = await exchange(this.dispatcher, { origin: this.origin, path: this.base + method, method: 'POST', headers: jsonHeaders, body: JSON.stringify(params), timeoutMs: this.timeoutMs });
      status = answer.status;
      text = answer.body.toString('utf8');
    } catch (error) {
      throw new NetworkError(`Network request failed: ${method}`, { cause: error });
    }
    let envelope: Envelope<T> | undefined;
    let unreadable: unknown;
    try {
      envelope = JSON.parse(text) as Envelope<T>;
    } catch (error) {
      unreadable = error;
    }
    if (envelope?.ok) return envelope.result as T;
    if (typeof envelope?.error_code === 'number') throw new TelegramApiError(envelope.error_code, envelope.description ?? '', envelope.parameters);
    // Read as the SDK reads it: a 5xx without Telegram's envelope (a proxy's HTML page) is the network's.
    if (status >= 500) throw new NetworkError(`Server error ${status} on ${method}`);
    throw new ParseError(`${unreadable === undefined ? 'Unexpected' : 'Invalid JSON in'} response to ${method}`, { cause: unreadable, responseText: text });
  }
}
