// The self-built app's server API: every call carries ?access_token=, a call refused for a
// stale token (40014, 42001) is made once more with a fresh one, one refused for the rate limit
// (45009) again after a wait.

import type { MediaBody } from '../../src/media/media.js';
import { staleTokenCodes, type AccessTokens } from './token.js';
import { call, download, WecomError, type Answer, type FileBody, type WireOptions } from './wire.js';

/** The types /cgi-bin/media/upload takes. */
export type UploadType = 'image' | 'voice' | 'video' | 'file';

export class AppApi {
  constructor(
    private readonly apiRoot: string,
    private readonly tokens: AccessTokens,
    /** The transport, and how a rate-limited call is made again. */
    private readonly wire: WireOptions,
  ) {}

  post(path: string, body: unknown): Promise<Answer> {
    return this.withToken(path, (url) => call(path, url, { method: 'POST', json: body }, this.wire));
  }

  async upload(type: UploadType, file: FileBody): Promise<string> {
    const answer = await this.withToken('media/upload', (url) => call('media/upload', url, { method: 'POST', file }, this.wire), { type });
    if (typeof answer.media_id !== 'string') throw new WecomError(undefined, 'WeCom media/upload answered without media_id');
    return answer.media_id;
  }

  mediaGet(mediaId: string, mime: string, name: string | undefined): Promise<MediaBody> {
    return this.withToken('media/get', (url) => download('WeCom media/get', url, { dispatcher: this.wire.dispatcher, mime, name }), { media_id: mediaId });
  }

  private async withToken<T>(path: string, run: (url: string) => Promise<T>, query: Record<string, string> = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const token = await this.tokens.get();
      const url = `${this.apiRoot}/cgi-bin/${path}?${new URLSearchParams({ access_token: token, ...query })}`;
      try {
        return await run(url);
      } catch (error) {
        if (attempt === 1 && error instanceof WecomError && error.errcode !== undefined && staleTokenCodes.has(error.errcode)) {
          this.tokens.invalidate(token);
          continue;
        }
        throw error;
      }
    }
  }
}
