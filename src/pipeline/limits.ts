// Per-user limits (docs/limits.md): each user's messages to one platform entry are counted in a
// window; past the limit the user is told once, and the rest of the window's messages reach
// neither the handler nor a reply. The count goes to onMessage, whose answer may overrule it.

import { z } from 'zod';
import type { Message, Segment } from '../message.js';
import type { Metrics } from '../runtime/metrics.js';
import { duration } from '../runtime/units.js';
import type { WindowCounter } from '../store/window-counter.js';

export const defaultNotice = 'You are sending messages too fast. Please wait {seconds}s and try again.';

/** `perUser:` at the top level or on a platform (where `false` turns the top level's off: see pacer.ts's limits). */
export const perUserSchema = z.strictObject({
  /** Messages a user may send in one window. */
  messages: z.number().int().min(1, 'expected at least 1 message'),
  /** The window, opened by a user's first message after the last one ended. */
  per: z
    .custom((value) => value !== undefined, 'required: the window, a duration like 10s')
    .pipe(duration)
    .pipe(z.number().min(1, 'expected a duration above 0, like 10s')),
  /** Told once, to the first message past the limit; `{seconds}` is the wait left. `false`: silence. */
  notice: z.union([z.string().min(1, 'expected the text to show, or false for none'), z.literal(false)]).default(defaultNotice),
});

export type PerUserLimit = z.output<typeof perUserSchema>;

/** The top level's `limits:`. Send limits are the platform's own (`limits.bot`, `limits.chat` on an entry). */
export const topLimitsSchema = z.strictObject({ perUser: perUserSchema.optional() });

/** Each platform entry's limit: its own `limits.perUser` wins over the top level's, `false` included. */
export function perUserOf(top: PerUserLimit | undefined, platforms: readonly { id: string; limits?: unknown }[]): ((botId: string) => PerUserLimit | undefined) | undefined {
  const byPlatform = new Map<string, PerUserLimit>();
  for (const platform of platforms) {
    const own = (platform.limits as { perUser?: PerUserLimit | false } | false | undefined) || undefined;
    const limit = own?.perUser === undefined ? top : own.perUser;
    if (limit) byPlatform.set(platform.id, limit);
  }
  return byPlatform.size === 0 ? undefined : (botId) => byPlatform.get(botId);
}

/** What onMessage is told (the payload's `limit`), and what decides by default. */
export interface LimitState {
  /** The author's messages to this platform entry in the current window, this one included. */
  count: number;
  /** The limit: messages allowed per window. */
  max: number;
  windowMs: number;
  /** Ms until the window ends. */
  resetMs: number;
  /** count > max: with no word from onMessage, the message is not handled. */
  exceeded: boolean;
}

export class UserLimits {
  private readonly limited = new Map<string, () => void>();

  constructor(
    private readonly limitOf: (botId: string) => PerUserLimit | undefined,
    private readonly counter: WindowCounter,
    private readonly metrics?: Metrics,
  ) {
    metrics?.describe('switchboard_messages_limited_total', 'Messages stopped by a per-user limit: recorded and acknowledged, not handled');
  }

  /** Counts the message against its author's window; undefined when its platform has no per-user limit. */
  async count(message: Message): Promise<LimitState | undefined> {
    const limit = this.limitOf(message.botId);
    if (!limit) return undefined;
    // Platform ids have no ':' (config.ts), so the key is unambiguous whatever the user id holds.
    const { count, resetMs } = await this.counter.hit(`${message.botId}:${message.author.id}`, limit.per);
    return { count, max: limit.messages, windowMs: limit.per, resetMs, exceeded: count > limit.messages };
  }

  /**
   * A message the limit stopped: counted, and what its author is told. Only the first one past
   * the limit in a window is answered (in a group, addressed to its author); the rest are silent.
   */
  stopped(message: Message, state: LimitState): Segment[] | undefined {
    this.counterOf(message)();
    const notice = this.limitOf(message.botId)?.notice;
    if (!notice || state.count !== state.max + 1) return undefined;
    const text = notice.replaceAll('{seconds}', String(Math.max(1, Math.ceil(state.resetMs / 1000))));
    if (message.channel.type === 'direct') return [{ type: 'text', text }];
    return [{ type: 'mention', userId: message.author.id, ...(message.author.name ? { name: message.author.name } : {}) }, { type: 'text', text: ` ${text}` }];
  }

  private counterOf(message: Message): () => void {
    let inc = this.limited.get(message.botId);
    if (!inc) {
      inc = this.metrics?.counter('switchboard_messages_limited_total', { platform: message.platform, bot: message.botId }) ?? (() => {});
      this.limited.set(message.botId, inc);
    }
    return inc;
  }
}
