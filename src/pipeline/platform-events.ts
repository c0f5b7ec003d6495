// Platform events (a member joined, a reaction…) run beside messages, in no chat order: the bot's
// event handlers and the onEvent callback, then what the handlers sent. The pipeline records each
// in the inbox first, like a message, so a crash does not lose one; this runs a recorded one.

import type { Bot } from '../bot/bot.js';
import { EventContext, type PlatformEvent } from '../bot/events.js';
import type { Deliverer } from '../delivery/deliverer.js';
import { errorMessage } from '../inbound/supervisor.js';
import type { Logger } from '../runtime/logger.js';
import { pendingRecord, type OutboxItem, type Store } from '../store/index.js';
import type { ThroughOutage } from '../store/outage.js';
import type { RunEnd } from './handle.js';
import type { StageHooks } from './lifecycle.js';

export class PlatformEvents {
  constructor(
    /** Swapped by `start --watch`; an event being handled keeps the bot it started with. */
    public bot: Bot,
    private readonly store: Store,
    private readonly deliverer: Deliverer,
    private readonly durable: ThroughOutage,
    private readonly logger: Logger,
    private readonly hooks: StageHooks,
  ) {}

  /** Runs a recorded event to its end and marks it finished. `resumed`: the last run left it unfinished. */
  async run(id: string, event: PlatformEvent, resumed: boolean): Promise<RunEnd> {
    const started = performance.now();
    const { bot, store } = this;
    const log = this.logger.child({ event: id, platform: event.platform, bot: event.botId, type: event.type });
    if (resumed) log.info('resuming a platform event left unfinished by the last run');
    const ctx = new EventContext(event, log, store);
    try {
      await Promise.all([bot.runEvent(ctx), this.hooks.onEvent?.(event).catch((error: unknown) => log.warn({ err: errorMessage(error) }, 'onEvent callback failed'))]);
      if (ctx.outgoing.length > 0) {
        const at = Date.now();
        const items: OutboxItem[] = ctx.outgoing.map((message, index) => ({ key: `${id}:${index}`, eventId: id, index, message }));
        await this.durable(() => store.outbox.add(items)).catch((error: unknown) => log.error({ err: errorMessage(error) }, 'could not record the replies in the store; sending them anyway'));
        // After a resume, what the first run already delivered is skipped: the outbox has it under the same keys.
        const records = resumed ? await store.outbox.ofEvent(id) : items.map((item) => pendingRecord(item, at));
        const deliveries = await this.deliverer.sendAll(records, log);
        if (deliveries.some((d) => d.left)) return 'left';
      }
      await this.durable(() => store.inbox.finish(id)).catch((error: unknown) => log.error({ err: errorMessage(error) }, 'could not mark the event finished; it is handled again after a restart'));
      return 'done';
    } finally {
      log.info({ replies: ctx.outgoing.length, ms: Math.round((performance.now() - started) * 100) / 100 }, 'event handled');
    }
  }
}
