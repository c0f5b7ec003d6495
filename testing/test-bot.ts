// createTestBot: a bot under test on the real core (Runtime, Pipeline, a memory store) and the real
// adapter of one platform, talking to that platform's wire fake in this process. What a test sees
// is what the platform received: the adapter's own rendering, splitting and escaping.

import type { Adapter, AdapterContext, AdapterDefinition, InboundEvent } from '../src/adapter.js';
import type { Bot, Message } from '../src/index.js';
import { definitions as registry } from '../src/runtime/registry.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { startSwitchboard, type RunningSwitchboard } from './run.js';
import type { Driver, Reply, UserMessage } from './driver.js';
import { discordDriver } from './drivers/discord.js';
import { larkDriver } from './drivers/lark.js';
import { qqDriver } from './drivers/qq.js';
import { telegramDriver } from './drivers/telegram.js';
import { tencentImDriver } from './drivers/tencent-im.js';
import { vkDriver } from './drivers/vk.js';
import { wecomDriver } from './drivers/wecom.js';

/** The platforms createTestBot speaks. */
export type TestPlatform = 'telegram' | 'discord' | 'lark' | 'vk' | 'tencent-im' | 'qq' | 'wecom';

const drivers: Record<TestPlatform, () => Driver> = { telegram: telegramDriver, discord: discordDriver, lark: larkDriver, vk: vkDriver, 'tencent-im': tencentImDriver, qq: qqDriver, wecom: wecomDriver };

export interface TestBotOptions {
  platform: TestPlatform;
  /** Extra top-level config (YAML), e.g. `limits:` or `delivery:`; the platform and the store are set by the kit. */
  config?: string;
  /**
   * Waits between replies as the platform's send limits require (Telegram: about one a second in a
   * chat after a burst of 3), as in production. Off by default, so a test with many messages stays fast.
   */
  pacing?: boolean;
  /** How long `send` waits for the message to be handled before it rejects; 10 s by default. */
  timeoutMs?: number;
}

export interface TestBot {
  /**
   * Sends a message as a user (text alone, or a UserMessage: an image, a button click, in a group,
   * mentioning the bot, from another user). Resolves once the bot has handled it and every reply
   * is delivered, with the replies that reached its chat while it was being handled, in order
   * (none, at once, for a message the platform does not hand to bots).
   */
  send(input: string | UserMessage): Promise<Reply[]>;
  /** Every message the bot sent, in any chat (`ctx.send` to other chats included), as its chat shows it now (edits applied), in the order the platform got the sends. */
  sent(): Reply[];
  /** The running Switchboard (`runtime.store`, `runtime.pipeline`…), once the first `send` started it. */
  readonly runtime: Runtime | undefined;
  /** Stops the runtime and the fake. Call it in `afterEach`. */
  stop(): Promise<void>;
}

/**
 * A bot under test on one platform, in process and offline: the first `send` starts Switchboard
 * (memory store) with the platform's real adapter pointed at its wire fake on 127.0.0.1.
 *
 * ```ts
 * const t = createTestBot(bot, { platform: 'telegram' });
 * const replies = await t.send('/ping');
 * expect(replies[0].text).toBe('pong');
 * await t.stop();
 * ```
 */
export function createTestBot(bot: Bot, options: TestBotOptions): TestBot {
  const make = drivers[options.platform];
  if (!make) throw new Error(`createTestBot: platform "${String(options.platform)}" is not one of ${Object.keys(drivers).join(', ')}`);
  const driver = make();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const waiting = new Set<Waiting>();
  /** Per chat, how many replies the fake had when the chat's last message was handled (its messages are handled one at a time). */
  const handledUpTo = new Map<string, number>();
  const onHandled = (message: Message) => {
    const key = message.channel.id;
    const span = { from: handledUpTo.get(key) ?? 0, to: driver.replies().length };
    handledUpTo.set(key, span.to);
    handled(waiting, message, span);
  };
  let running: RunningSwitchboard | undefined;
  let starting: Promise<RunningSwitchboard> | undefined;

  const start = async (): Promise<RunningSwitchboard> => {
    const entry = await driver.start();
    const definitions = registry.map((d) => (d.type === options.platform ? observe(d, { taken: (message) => taken(waiting, message), handled: onHandled }) : d));
    const limits = options.pacing ? '' : ', limits: false';
    running = await startSwitchboard(`${options.config ?? ''}\nplatforms:\n  - { ${entry}${limits} }\n`, { bot, env: {}, definitions });
    return running;
  };

  return {
    get runtime() {
      return running?.runtime;
    },
    async send(input) {
      const { url } = await (starting ??= start());
      const message = typeof input === 'string' ? { text: input } : input;
      const before = driver.replies().length;
      let done!: (span: Span) => void;
      const finished = new Promise<Span>((resolve) => (done = resolve));
      // Registered before the fake has the message: one handled before inject returns (a webhook's answer
      // can come after the handling) is kept in `seen` and matched once it is known what to look for.
      const entry: Waiting = { taken: [], seen: [], done };
      waiting.add(entry);
      let timer: NodeJS.Timeout | undefined;
      try {
        const target = await driver.inject(message, url);
        entry.is = target.is;
        const early = entry.seen.find((seen) => target.is(seen.message));
        if (early) done(early.span);
        // Taken or passed by already, and not taken: the adapter does not hand this kind to the bot.
        else if (target.settled && !entry.taken.some(target.is)) return [];
        const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`createTestBot: the bot did not finish handling ${JSON.stringify(message)} within ${timeoutMs} ms`)), timeoutMs)));
        // What reached the chat while this message was its chat's one being handled.
        const { from, to } = await Promise.race([finished, timeout]);
        return driver.replies().slice(Math.max(before, from), to).filter((reply) => reply.chat === target.chat);
      } finally {
        clearTimeout(timer);
        waiting.delete(entry);
      }
    },
    sent: () => driver.replies(),
    async stop() {
      if (!starting) return; // never started: nothing to stop
      await starting.catch(() => undefined);
      await running?.stop();
      await driver.stop();
    },
  };
}

/** The fake's replies (by index) from the end of the chat's previous message to the end of this one. */
interface Span {
  from: number;
  to: number;
}

/** A `send` waiting for its message to be handled; `is` is known once the fake has the message. */
interface Waiting {
  is?: (message: Message) => boolean;
  /** Messages the adapter handed to the pipeline meanwhile. */
  taken: Message[];
  /** Messages handled before `is` was known. */
  seen: { message: Message; span: Span }[];
  done(span: Span): void;
}

function taken(waiting: Set<Waiting>, message: Message): void {
  for (const entry of waiting) entry.taken.push(message);
}

function handled(waiting: Set<Waiting>, message: Message, span: Span): void {
  for (const entry of waiting) {
    if (!entry.is) entry.seen.push({ message, span });
    else if (entry.is(message)) entry.done(span);
  }
}

/** The platform's own adapter, with every event it dispatches reporting when it is taken and when it has been handled. */
function observe(definition: AdapterDefinition, on: { taken(message: Message): void; handled(message: Message): void }): AdapterDefinition {
  return {
    ...definition,
    create: async (config) => {
      const adapter: Adapter = await definition.create(config);
      const watch = (event: InboundEvent): InboundEvent => {
        let message: Message | undefined;
        return {
          ...event,
          normalize: async () => {
            message = await event.normalize();
            on.taken(message);
            return message;
          },
          onHandled: () => {
            event.onHandled?.();
            if (message) on.handled(message);
          },
        };
      };
      const start = adapter.start.bind(adapter);
      adapter.start = (ctx: AdapterContext) => start({ ...ctx, dispatch: (event) => ctx.dispatch(watch(event)) });
      return adapter;
    },
  };
}
