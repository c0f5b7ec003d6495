// Fetching the bytes behind a media segment when a handler asks for them: from memory, from
// our own media store, or from the URL a user sent — the last only over http(s), to public
// addresses (unless the operator allows private ones), bounded in size and time.

import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { Dispatcher } from 'undici';
import { readBounded } from '../net/fetch-file.js';
import { undici } from '../net/undici.js';
import type { MediaBody, MediaStore } from './media.js';
import type { MediaSegment } from '../message.js';

export interface DownloadPolicy {
  allowPrivateNetworks: boolean;
  maxBytes: number;
  timeoutMs: number;
}

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
}

const privateRanges = new BlockList();
for (const [net, prefix] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const)
  privateRanges.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) privateRanges.addSubnet(net, prefix, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return privateRanges.check(mapped[1]!, 'ipv4');
  return privateRanges.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

/** Checks the address a connection is really made to, so a DNS answer cannot swap in a private one after the check. */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, '', 0);
    const allowed = addresses.filter((a) => !isPrivateAddress(a.address));
    if (allowed.length === 0) return callback(new DownloadError(`${hostname} resolves to a private or loopback address`), '', 0);
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
    callback(null, allowed[0]!.address, allowed[0]!.family);
  });
};

/** Made with the first download. */
let agents: { public: Dispatcher; any: Dispatcher } | undefined;

export function createDownloader(media: MediaStore, policy: DownloadPolicy): (segment: MediaSegment) => Promise<MediaBody> {
  return async (segment) => {
    const mime = segment.mime ?? 'application/octet-stream';
    if (segment.data) return { data: segment.data, mime, name: segment.name };
    if (!segment.url) throw new DownloadError(`${segment.type} has neither data nor url`);
    if (media.idOf(segment.url) !== undefined) {
      const body = await media.load(segment.url);
      if (!body) throw new DownloadError('media URL has expired');
      return body;
    }
    return fetchUrl(segment.url, policy, segment.name, segment.mime);
  };
}

async function fetchUrl(url: string, policy: DownloadPolicy, name: string | undefined, mime: string | undefined, redirects = 3): Promise<MediaBody> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DownloadError('not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new DownloadError(`only http(s) URLs are fetched, not ${parsed.protocol}`);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (!policy.allowPrivateNetworks && isIP(host) && isPrivateAddress(host)) throw new DownloadError(`${host} is a private or loopback address`);
  const { Agent, request } = undici();
  agents ??= { public: new Agent({ connect: { lookup: publicOnlyLookup } }), any: new Agent() };
  const signal = AbortSignal.timeout(policy.timeoutMs);
  let response;
  try {
    response = await request(parsed, { dispatcher: policy.allowPrivateNetworks ? agents.any : agents.public, signal, headers: { accept: '*/*' } });
  } catch (error) {
    throw new DownloadError(signal.aborted ? `no answer within ${policy.timeoutMs} ms` : `fetch failed: ${(error as Error).message}`);
  }
  const { statusCode, headers, body } = response;
  if (statusCode >= 300 && statusCode < 400 && typeof headers.location === 'string' && redirects > 0) {
    await body.dump();
    return fetchUrl(new URL(headers.location, parsed).href, policy, name, mime, redirects - 1);
  }
  if (statusCode !== 200) {
    await body.dump();
    throw new DownloadError(`HTTP ${statusCode}`);
  }
  if (Number(headers['content-length']) > policy.maxBytes) {
    await body.dump();
    throw new DownloadError(`larger than ${policy.maxBytes} bytes`);
  }
  const data = await readBounded(body, policy.maxBytes, () => new DownloadError(`larger than ${policy.maxBytes} bytes`));
  const type = typeof headers['content-type'] === 'string' ? headers['content-type'].split(';')[0]!.trim() : undefined;
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), mime: mime ?? type ?? 'application/octet-stream', name: name ?? (parsed.pathname.split('/').pop() || undefined) };
}
