import { Agent, request } from 'undici';
import { discard, readBounded } from '../net/fetch-file.js';

export class CallbackError extends Error {
  override readonly name = 'CallbackError';
  constructor(
    message: string,
    /** timeout | connection | status | body | invalid */
    readonly reason: 'timeout' | 'connection' | 'body' | 'invalid',
  ) {
    super(message);
  }
}

export interface CallbackResponse {
  status: number;
  contentType: string | undefined;
  disposition: string | undefined;
  body: Buffer;
}

/** One keep-alive pool for every callback: a stage call reuses a warm connection instead of a new handshake. */
const agent = new Agent({ keepAliveTimeout: 30_000, connections: 64, pipelining: 1 });

/** POSTs a JSON body; the timeout bounds the whole exchange, the size limit the reply body. */
export async function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number, maxBytes: number): Promise<CallbackResponse> {
  const signal = AbortSignal.timeout(timeoutMs);
  let response;
  try {
    response = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, dispatcher: agent, signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  } catch (error) {
    throw failure(error, signal, timeoutMs);
  }
  const declared = Number(response.headers['content-length']);
  if (declared > maxBytes) {
    discard(response.body);
    throw new CallbackError(`reply body of ${declared} bytes is over the ${maxBytes}-byte limit`, 'body');
  }
  let replyBody: Buffer;
  try {
    replyBody = await readBounded(response.body, maxBytes, () => new CallbackError(`reply body is over the ${maxBytes}-byte limit`, 'body'));
  } catch (error) {
    if (error instanceof CallbackError) throw error;
    throw failure(error, signal, timeoutMs);
  }
  return { status: response.statusCode, contentType: header(response.headers['content-type']), disposition: header(response.headers['content-disposition']), body: replyBody };
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function failure(error: unknown, signal: AbortSignal, timeoutMs: number): CallbackError {
  const code = (error as { code?: string }).code;
  if (signal.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return new CallbackError(`no reply within ${timeoutMs} ms`, 'timeout');
  return new CallbackError(`request failed: ${code ?? (error as Error).message}`, 'connection');
}
