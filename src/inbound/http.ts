// Request-body helpers every webhook route uses: bounded reads and clear 4xx answers.

import type { Context } from 'koa';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Switchboard cannot take this work now (shutting down, the store cannot record it): the
 * platform should deliver it again. The server answers 503 with the configured Retry-After.
 */
export function unavailable(reason: string): HttpError {
  return new HttpError(503, reason);
}

/** Reads the raw body, refusing anything over `limit` bytes with 413 (before reading it, when Content-Length says so). */
export async function readRawBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || Number.NaN);
  if (declared > limit) {
    ctx.req.resume();
    throw new HttpError(413, `request body is larger than ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      ctx.req.resume();
      throw new HttpError(413, `request body is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/** Reads and parses a JSON body: 413 when too large, 400 when it is not JSON. */
export async function readJson(ctx: Context, limit: number): Promise<unknown> {
  const raw = await readRawBody(ctx, limit);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}
