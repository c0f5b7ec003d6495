import { randomBytes } from 'node:crypto';
import type { KeyValue } from '../store/index.js';
import { Eviction } from '../runtime/eviction.js';

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
  /** What the bytes are, when the platform said so before they are fetched. */
  mime?: string;
  name?: string;
}

/** How a platform's adapter fetches media from its origin, on whichever instance is asked for it. */
export type MediaFetcher = (origin: MediaOrigin) => Promise<MediaBody>;

/**
 * A URL's entry as instances sharing a store see it. Closures and large bodies cannot be shared:
 * - `bytes`: small bodies (up to `sharedMaxBytes`), kept in the store itself;
 * - `fetch`: fetched from the platform again through the adapter of `origin.botId` (every instance runs it);
 * - `held`: a large body a bot made, or a loader with no fetcher: only the instance that made it can serve it.
 */
type SharedEntry = { expires: number; origin?: MediaOrigin } & ({ kind: 'bytes'; body: MediaBody } | { kind: 'fetch'; origin: MediaOrigin } | { kind: 'held' });

/** Asked on an instance for media whose bytes only another instance holds. */
export class MediaHeldElsewhere extends Error {
  override readonly name = 'MediaHeldElsewhere';
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
  /** With a shared store: bodies a bot made up to this size are kept in it, for every instance to serve. */
  sharedMaxBytes: number;
}

const defaultLimits: MediaStoreLimits = { ttlMs: 60 * 60_000, maxEntries: 10_000, maxBytes: 50 * 1024 * 1024, maxCachedBytes: 256 * 1024 * 1024, sharedMaxBytes: 1024 * 1024 };

const PATH_PREFIX = '/media/';

/**
 * Short-lived, unguessable URLs for bytes. Inbound platform files are exposed through it
 * (a platform file URL may embed the bot token), and platforms that take media only by URL
 * can be handed bytes the bot made.
 */
export class MediaStore {
  private readonly entries = new Map<string, Entry>();
  private readonly eviction = new Eviction(this.entries);
  /** Entries holding a fetched body, oldest first, and their bytes. */
  private readonly cachedIds = new Set<string>();
  private cachedBytes = 0;
  private readonly limits: MediaStoreLimits;
  private readonly fetchers = new Map<string, MediaFetcher>();

  /** Public base URL of the server, set once it listens. */
  baseUrl = '';

  /** `shared`: the store of instances that serve each other's URLs (absent: this process serves its own). */
  constructor(
    limits: Partial<MediaStoreLimits> = {},
    private readonly shared?: KeyValue,
  ) {
    this.limits = { ...defaultLimits, ...limits };
  }

  /** Registers a source and returns its absolute URL. */
  register(source: MediaSource, origin?: MediaOrigin): string {
    const id = randomBytes(18).toString('base64url');
    const expires = Date.now() + this.limits.ttlMs;
    this.add(id, { source, origin, expires });
    // Sent before the URL can leave this process (in a recorded message, a platform call), and a
    // store's commands run in order: another instance asked for the URL finds it. A failed write
    // leaves the URL to this instance alone (others answer 404).
    if (this.shared) void this.shared.set(`media:${id}`, this.sharedEntry(source, origin, expires), this.limits.ttlMs).catch(() => {});
    return `${this.baseUrl}${PATH_PREFIX}${id}`;
  }

  /** Media the platform holds, fetched through the adapter's fetcher (see fetcher()) when someone asks, on any instance. */
  registerFetched(origin: MediaOrigin): string {
    return this.register(() => this.fetcherOf(origin.botId)(origin), origin);
  }

  /** An adapter says how it fetches its media from an origin, so an instance other than the one that registered it can serve it. */
  fetcher(botId: string, fetch: MediaFetcher): void {
    this.fetchers.set(botId, fetch);
  }

  private fetcherOf(botId: string): MediaFetcher {
    const fetch = this.fetchers.get(botId);
    if (!fetch) throw new Error(`the platform "${botId}" cannot fetch media here`);
    return fetch;
  }

  private sharedEntry(source: MediaSource, origin: MediaOrigin | undefined, expires: number): SharedEntry {
    if (typeof source !== 'function') return source.data.byteLength <= this.limits.sharedMaxBytes ? { kind: 'bytes', body: source, origin, expires } : { kind: 'held', origin, expires };
    return origin && this.fetchers.has(origin.botId) ? { kind: 'fetch', origin, expires } : { kind: 'held', origin, expires };
  }

  /** Another instance's URL, made an entry here: its bytes, or a loader through this instance's fetcher. */
  private async adopt(id: string): Promise<Entry | undefined> {
    const shared = await this.shared?.get<SharedEntry>(`media:${id}`);
    if (!shared || shared.expires <= Date.now()) return undefined;
    if (shared.kind === 'held') throw new MediaHeldElsewhere('this media is held by the instance that made it; ask again (through the load balancer it may reach that one)');
    const current = this.live(id);
    if (current) return current;
    const { origin } = shared;
    const entry: Entry = { source: shared.kind === 'bytes' ? shared.body : () => this.fetcherOf(origin!.botId)(origin!), origin, expires: shared.expires };
    this.add(id, entry);
    return entry;
  }

  private add(id: string, entry: Entry): void {
    this.entries.set(id, entry);
    if (this.entries.size > this.limits.maxEntries) this.forget(this.eviction.oldest()![0]);
  }

  /** The entry id behind one of our own URLs, or undefined for any other URL. */
  idOf(url: string): string | undefined {
    const prefix = `${this.baseUrl}${PATH_PREFIX}`;
    return url.startsWith(prefix) ? url.slice(prefix.length) : undefined;
  }

  /** The origin of one of this instance's URLs (see originOf for any instance's). */
  origin(url: string): MediaOrigin | undefined {
    const id = this.idOf(url);
    return id === undefined ? undefined : this.live(id)?.origin;
  }

  /** The origin of a URL made by this instance or, with a shared store, by another one. */
  async originOf(url: string): Promise<MediaOrigin | undefined> {
    const id = this.idOf(url);
    if (id === undefined) return undefined;
    const local = this.live(id);
    if (local || !this.shared) return local?.origin;
    const shared = await this.shared.get<SharedEntry>(`media:${id}`);
    return shared && shared.expires > Date.now() ? shared.origin : undefined;
  }

  /** The bytes behind one of our URLs; undefined if it is not ours or has expired. */
  async load(idOrUrl: string): Promise<MediaBody | undefined> {
    const id = this.idOf(idOrUrl) ?? idOrUrl;
    const entry = this.live(id) ?? (await this.adopt(id));
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
