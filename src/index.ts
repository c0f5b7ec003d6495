// The public API for bot authors: `import { defineBot } from 'switchboard'`.

export { Bot, defineBot, type CommandOptions, type Handler, type Middleware, type Next } from './bot.js';
export type { ArgsOf } from './command.js';
export { Context, type ReplyOptions } from './context.js';
export { EventContext, type EventHandler, type InterceptContext, type InterceptDecision, type Interceptor, type PlatformEvent } from './events.js';
export type { Request, Result, Stage, StageHook, StageHooks, StageOutcome } from './lifecycle.js';
export * from './message.js';
