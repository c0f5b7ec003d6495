// REST options for discord.js: the API base, and the operator's proxy as an undici dispatcher.

import type { RESTOptions } from 'discord.js';
import { DefaultRestOptions } from './sdk.js';
import type { Transport } from '../../src/net/proxy.js';

type MakeRequest = RESTOptions['makeRequest'];

export function restOptions(apiRoot: string, transport: Transport): Partial<RESTOptions> & { makeRequest: MakeRequest } {
  const dispatcher = transport.dispatcher;
  // @discordjs/rest bundles its own undici (6); a dispatcher from ours (7) speaks the same
  // dispatch() contract, but cannot read the other's FormData, so uploads are encoded first.
  return {
    api: `${apiRoot}/api`,
    agent: (dispatcher ?? null) as RESTOptions['agent'],
    makeRequest: dispatcher ? async (url, init) => DefaultRestOptions.makeRequest(url, await encodeFormData(init)) : DefaultRestOptions.makeRequest,
  };
}

type Init = Parameters<MakeRequest>[1];

/** A multipart body as bytes with its content type, which any undici can send. */
async function encodeFormData(init: Init): Promise<Init> {
  const body = init.body as unknown;
  if (!isFormData(body)) return init;
  const encoded = new Response(body);
  return {
    ...init,
    body: new Uint8Array(await encoded.arrayBuffer()),
    headers: { ...(init.headers as Record<string, string>), 'content-type': encoded.headers.get('content-type') ?? 'multipart/form-data' },
  };
}

function isFormData(body: unknown): body is FormData {
  return typeof body === 'object' && body !== null && (body as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === 'FormData';
}

/**
 * The options of the REST client that sends messages: each request made once (the core retries
 * sends, with the same nonce), and a 429 Discord answered handed to the core with its wait. The
 * client still paces itself by the rate-limit headers Discord sends (it waits for a bucket it knows
 * is empty before sending): only an answered 429 is rejected, not that wait.
 */
export function sendingOptions(options: Partial<RESTOptions> & { makeRequest: MakeRequest }): Partial<RESTOptions> {
  // discord.js asks rejectOnRateLimit both before a request (its own bucket wait) and after a 429;
  // the URLs just answered 429 tell the two apart. One request per route runs at a time, so the
  // mark is read by the request that left it.
  const answered429 = new Set<string>();
  return {
    ...options,
    retries: 0,
    makeRequest: async (url, init) => {
      const response = await options.makeRequest(url, init);
      if (response.status === 429) answered429.add(url);
      return response;
    },
    rejectOnRateLimit: (data) => answered429.delete(data.url),
  };
}
