import { randomBytes } from 'node:crypto';

/** Bytes behind a media URL: held in memory, or fetched from the platform only when someone asks. */
export interface MediaBody {
  data: Uint8Array;
  mime: string;
  name?: string;
}

export type MediaSource = MediaBody | (() => Promise<MediaBody>);

/** Where media came from, so the adapter that made it can reuse the platform's own reference (a Telegram file_id). */
export interface MediaOrigin {
  botId: string;
  ref: string;
}

interface Entry {
  source: MediaSource;
  origin?: MediaOrigin;
  expires: number;
  /** What a loader fetched, kept while the memory budget allows. */
  cached?: MediaBody;
  /** A fetch under way: requests that arrive meanwhile share it. */
  loading?: Promise<MediaBody>;
}

export interface MediaStoreLimits {
  /** How long a URL works. */
  ttlMs: number;
  /** URLs kept at once; the oldest goes first. */
  maxEntries: number;
  /** Largest body a loader may return. */
  maxBytes: number;
  /** Memory for fetched bodies; past it the oldest are let go (and fetched again if asked for). */
  maxCachedBytes: number;
}

const defaultLimits: MediaStoreLimits = { ttlMs: 60 * 60_000, maxEntries: 10_000, maxBytes: 50 * 1024 * 1024, maxCachedBytes: 256 * 1024 * 1024 };

const PATH_PREFIX = '/media/';

/**
 * Short-lived, unguessable URLs for bytes. Inbound platform files are exposed through it
 * (a platform file URL may embed the bot token), and platforms that take media only by URL
 * can be handed bytes the bot made.
 */
export class MediaStore {
  private readonly entries = new Map<string, Entry>();
  /** Entries holding a fetched body, oldest first, and their bytes. */
  private readonly cachedIds = new Set<string>();
  private cachedBytes = 0;
  private readonly limits: MediaStoreLimits;

  /** Public base URL of the server, set once it listens. */
  baseUrl = '';

  constructor(limits: Partial<MediaStoreLimits> = {}) {
    this.limits = { ...defaultLimits, ...limits };
  }

  /** Registers a source and returns its absolute URL. */
  register(source: MediaSource, origin?: MediaOrigin): string {
    const id = randomBytes(18).toString('base64url');
    this.entries.set(id, { source, origin, expires: Date.now() + this.limits.ttlMs });
    if (this.entries.size > this.limits.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.forget(oldest.value);
    }
    return `${this.baseUrl}${PATH_PREFIX}${id}`;
  }

  /** The entry id behind one of our own URLs, or undefined for any other URL. */
  idOf(url: string): string | undefined {
    const prefix = `${this.baseUrl}${PATH_PREFIX}`;
    return url.startsWith(prefix) ? url.slice(prefix.length) : undefined;
  }

  origin(url: string): MediaOrigin | undefined {
    const id = this.idOf(url);
    return id === undefined ? undefined : this.live(id)?.origin;
  }

  /** The bytes behind one of our URLs; undefined if it is not ours or has expired. */
  async load(idOrUrl: string): Promise<MediaBody | undefined> {
    const id = this.idOf(idOrUrl) ?? idOrUrl;
    const entry = this.live(id);
    if (!entry) return undefined;
    const { source } = entry;
    if (typeof source !== 'function') return source;
    if (entry.cached) return entry.cached;
    entry.loading ??= source().finally(() => (entry.loading = undefined));
    const body = await entry.loading;
    const { maxBytes } = this.limits;
    if (body.data.byteLength > maxBytes) throw new Error(`media larger than ${maxBytes} bytes`);
    if (!entry.cached && this.entries.get(id) === entry) this.cache(id, entry, body);
    return body;
  }

  private cache(id: string, entry: Entry, body: MediaBody): void {
    entry.cached = body;
    this.cachedIds.add(id);
    this.cachedBytes += body.data.byteLength;
    for (const oldest of this.cachedIds) {
      if (this.cachedBytes <= this.limits.maxCachedBytes) break;
      this.uncache(oldest);
    }
  }

  private uncache(id: string): void {
    const entry = this.entries.get(id);
    if (entry?.cached) this.cachedBytes -= entry.cached.data.byteLength;
    if (entry) entry.cached = undefined;
    this.cachedIds.delete(id);
  }

  private forget(id: string): void {
    this.uncache(id);
    this.entries.delete(id);
  }

  static readonly pathPrefix = PATH_PREFIX;

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expires > Date.now()) return entry;
    this.forget(id);
    return undefined;
  }
}
