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
}

const PATH_PREFIX = '/media/';

/**
 * Short-lived, unguessable URLs for bytes. Inbound platform files are exposed through it
 * (a platform file URL may embed the bot token), and platforms that take media only by URL
 * can be handed bytes the bot made.
 */
export class MediaStore {
  private readonly entries = new Map<string, Entry>();

  /** Public base URL of the server, set once it listens. */
  baseUrl = '';

  constructor(
    private readonly ttlMs = 60 * 60_000,
    private readonly maxEntries = 10_000,
    private readonly maxBytes = 20 * 1024 * 1024,
  ) {}

  /** Registers a source and returns its absolute URL. */
  register(source: MediaSource, origin?: MediaOrigin): string {
    const id = randomBytes(18).toString('base64url');
    this.entries.set(id, { source, origin, expires: Date.now() + this.ttlMs });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
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
    const entry = this.live(this.idOf(idOrUrl) ?? idOrUrl);
    if (!entry) return undefined;
    if (typeof entry.source !== 'function') return entry.source;
    const body = await entry.source();
    if (body.data.byteLength > this.maxBytes) throw new Error(`media larger than ${this.maxBytes} bytes`);
    entry.source = body; // fetched once, then served from memory until it expires
    return body;
  }

  static readonly pathPrefix = PATH_PREFIX;

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expires > Date.now()) return entry;
    this.entries.delete(id);
    return undefined;
  }
}
