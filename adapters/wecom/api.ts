// The self-built app's server API: every call carries ?access_token=. A call WeCom refuses for a
// stale token forgets that token and fails as `auth`: the core (or retry()) tries once more, and
// that try fetches a new one.

import { retry, type RetryPolicy } from '../../src/delivery/retry.js';
import type { MediaBody } from '../../src/media/media.js';
import type { AccessTokens } from './token.js';
import { call, download, WecomError, type Answer, type FileBody, type WireOptions } from './wire.js';

/** The types /cgi-bin/media/upload takes. */
export type UploadType = 'image' | 'voice' | 'video' | 'file';

/** A handler waits on a download: a few quick tries, not a delivery's patience. */
const downloadPolicy: RetryPolicy = { attempts: 3, initialDelayMs: 200, maxDelayMs: 2000, maxRetryAfterMs: 5000 };

export class AppApi {
  constructor(
    private readonly apiRoot: string,
    private readonly tokens: AccessTokens,
    private readonly wire: WireOptions,
  ) {}

  /** A message (message/send, appchat/send): made once. */
  post(path: string, body: unknown, signal?: AbortSignal): Promise<Answer> {
    return this.withToken(path, (url) => call(path, url, { method: 'POST', json: body, signal }, this.wire));
  }

  async upload(type: UploadType, file: FileBody, signal?: AbortSignal): Promise<string> {
    const answer = await this.withToken('media/upload', (url) => call('media/upload', url, { method: 'POST', file, repeatable: true, signal }, this.wire), { type });
    if (typeof answer.media_id !== 'string') throw new WecomError(undefined, 'WeCom media/upload answered without media_id');
    return answer.media_id;
  }

  /** A file a user sent, for a handler: not a send, so retried here, under the core's policy. */
  mediaGet(mediaId: string, mime: string, name: string | undefined): Promise<MediaBody> {
    const get = () => this.withToken('media/get', (url) => download('WeCom media/get', url, { ...this.wire, mime, name }), { media_id: mediaId });
    return retry(get, { policy: downloadPolicy, signal: this.wire.signal });
  }

  private async withToken<T>(path: string, run: (url: string) => Promise<T>, query: Record<string, string> = {}): Promise<T> {
    const token = await this.tokens.get();
    const url = `${this.apiRoot}/cgi-bin/${path}?${new URLSearchParams({ access_token: token, ...query })}`;
    try {
      return await run(url);
    } catch (error) {
      if (error instanceof WecomError && error.failure.kind === 'auth') this.tokens.invalidate(token);
      throw error;
    }
  }
}
