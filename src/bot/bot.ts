// What a bot author writes against: middleware, commands, message handlers, named routes.

import { ArgumentError, closest, parseArgs, parseSpec, splitCommand, type ArgsOf, type CommandSpec } from './command.js';
import { Context } from './context.js';
import { runInterceptors, type EventContext, type EventHandler, type InterceptDecision, type Interceptor } from './events.js';
import type { Request } from '../pipeline/lifecycle.js';
import type { Logger } from '../runtime/logger.js';
import type { KeyValue } from '../store/index.js';
import type { Content, Message } from '../message.js';
import { isReplyStream } from './stream.js';

export type Next = () => Promise<void>;
/**
 * A turn of the chain: undefined when every middleware and handler in it returned without a
 * promise (most handlers), so a message costs no promise per layer; else settles when it is done.
 */
export type Step = void | Promise<void>;
export type Middleware = (ctx: Context, next: Next) => unknown;
/** A handler may answer with ctx.reply(...) or by returning content. */
export type Handler<Args = Record<string, unknown>> = (ctx: Context<Args>, next: Next) => unknown;

export interface CommandOptions {
  description?: string;
  /** Leave out of /help. */
  hidden?: boolean;
}

interface Command {
  spec: CommandSpec;
  handler: Handler;
  options: CommandOptions;
}

export class Bot {
  private readonly middleware: Middleware[] = [];
  private readonly commands = new Map<string, Command>();
  private readonly messageHandlers: Handler[] = [];
  private readonly routes = new Map<string, Handler>();
  private readonly eventHandlers: EventHandler[] = [];
  private readonly interceptors: Interceptor[] = [];
  private composed: ((ctx: Context) => Step) | undefined;
  /** The message handlers as one chain, built once (not per message) and again when one is added. */
  private messageChain: ((ctx: Context) => Step) | undefined;

  constructor(readonly prefix = '/') {}

  /** Koa-style middleware around every handler; skip `next()` to stop the message here. */
  use(middleware: Middleware): this {
    this.middleware.push(middleware);
    this.composed = undefined;
    return this;
  }

  /** `bot.command('echo <text:rest>', ctx => ctx.args.text)`; types: string, word, rest, number, int, boolean. */
  command<S extends string>(spec: S, handler: Handler<ArgsOf<S>>, options: CommandOptions = {}): this {
    const parsed = parseSpec(spec);
    if (this.commands.has(parsed.name)) throw new Error(`command /${parsed.name} is defined twice`);
    this.commands.set(parsed.name, { spec: parsed, handler: handler as Handler, options });
    return this;
  }

  /** 'message': chat messages that no command took. 'event': platform events that are not chat messages. */
  on(event: 'message', handler: Handler): this;
  on(event: 'event', handler: EventHandler): this;
  on(event: 'message' | 'event', handler: Handler | EventHandler): this {
    if (event === 'message') {
      this.messageHandlers.push(handler as Handler);
      this.messageChain = undefined;
    }
    else if (event === 'event') this.eventHandlers.push(handler as EventHandler);
    else throw new Error(`unknown event "${String(event)}"`);
    return this;
  }

  /**
   * Decides on messages users send each other, where a platform asks first (Tencent Cloud IM's
   * Before* callbacks): return ctx.deny(), ctx.drop(), ctx.rewrite(content), or nothing to allow.
   */
  intercept(interceptor: Interceptor): this {
    this.interceptors.push(interceptor);
    return this;
  }

  get intercepts(): boolean {
    return this.interceptors.length > 0;
  }

  runIntercept(message: Message, kind: string, log: Logger, store: KeyValue): Promise<InterceptDecision> {
    return runInterceptors(this.interceptors, message, kind, log, store);
  }

  /** Runs every event handler in order; one that throws is logged and the rest still run. */
  async runEvent(ctx: EventContext): Promise<void> {
    for (const handler of this.eventHandlers) {
      try {
        await handler(ctx);
      } catch (error) {
        ctx.log.error({ err: error, type: ctx.event.type }, 'event handler threw');
      }
    }
  }

  /** A named handler that a callback (or middleware) can send a request to by setting `request.route`. */
  route(name: string, handler: Handler): this {
    this.routes.set(name, handler);
    return this;
  }

  /** Routing: which command (with parsed arguments) or handler a message goes to. */
  resolve(message: Message): Request {
    const call = splitCommand(message.text, this.prefix);
    if (!call) return { command: null, args: {}, route: null };
    const command = this.commands.get(call.name);
    if (!command) return { command: call.name, args: {}, route: null };
    try {
      return { command: call.name, args: parseArgs(command.spec, call.rest), route: null };
    } catch (error) {
      if (!(error instanceof ArgumentError)) throw error;
      return { command: call.name, args: {}, route: null, error: error.message };
    }
  }

  /** Runs middleware and then the handler the request names, collecting replies into ctx.result. May throw at once, or reject. */
  run(ctx: Context): Step {
    this.composed ??= compose([...this.middleware, (c) => this.dispatch(c)]);
    return this.composed(ctx);
  }

  get commandList(): { name: string; usage: string; description: string }[] {
    return [...this.commands.values()]
      .filter((c) => !c.options.hidden)
      .map((c) => ({ name: c.spec.name, usage: c.spec.usage, description: c.options.description ?? '' }));
  }

  private dispatch(ctx: Context): Step {
    const { request } = ctx;
    if (request.route !== null) {
      const handler = this.routes.get(request.route);
      if (handler) return answer(ctx, handler);
      ctx.log.warn({ route: request.route }, 'request routed to an unknown handler; using the default');
    }
    if (request.command !== null) {
      const command = this.commands.get(request.command);
      if (command) {
        if (request.error) return ctx.reply(`${request.error}\nUsage: ${command.spec.usage}`);
        return answer(ctx, command.handler);
      }
      if (request.command === 'help') return ctx.reply(this.help());
      const suggestion = closest(request.command, [...this.commands.keys(), 'help']);
      if (suggestion) return ctx.reply(`Unknown command ${this.prefix}${request.command}. Did you mean ${this.prefix}${suggestion}?`);
    }
    this.messageChain ??= compose(this.messageHandlers.map((h) => (c: Context, next: Next) => answer(c, h, next)));
    return this.messageChain(ctx);
  }

  private help(): string {
    const lines = this.commandList.map((c) => `${c.usage.replace(/^\//, this.prefix)}${c.description ? ` — ${c.description}` : ''}`);
    return lines.length > 0 ? `Commands:\n${lines.join('\n')}` : 'This bot has no commands.';
  }
}

/** The next of the last handler in the chain: nothing comes after it. */
const nothingNext: Next = () => Promise.resolve();

function answer(ctx: Context, handler: Handler, next: Next = nothingNext): Step {
  const returned = handler(ctx, next);
  if (!isThenable(returned)) return replyWith(ctx, returned);
  return Promise.resolve(returned).then((value) => replyWith(ctx, value));
}

function replyWith(ctx: Context, returned: unknown): void {
  if (returned !== undefined && returned !== null && (isContent(returned) || isReplyStream(returned))) ctx.reply(returned);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null | undefined)?.then === 'function';
}

function isContent(value: unknown): value is Content {
  return typeof value === 'string' || Array.isArray(value) || (typeof value === 'object' && value !== null && 'type' in value);
}

/** Koa's onion, run without a promise for a layer that returns none; `next()` always gives one, for the layer to await. */
function compose(stack: Middleware[]): (ctx: Context) => Step {
  return (ctx) => {
    let index = -1;
    const step = (i: number): Step => {
      if (i <= index) throw new Error('next() called more than once');
      index = i;
      const fn = stack[i];
      if (!fn) return;
      const returned = fn(ctx, () => {
        try {
          return step(i + 1) ?? Promise.resolve();
        } catch (error) {
          return Promise.reject(error);
        }
      });
      if (isThenable(returned)) return Promise.resolve(returned).then(() => {});
    };
    return step(0);
  };
}

/** The default export of a bot module: `export default defineBot(bot => { ... })`. */
export function defineBot(setup: (bot: Bot) => void, options: { prefix?: string } = {}): Bot {
  const bot = new Bot(options.prefix);
  setup(bot);
  return bot;
}

export { Context };
