// The public API for bot authors: `import { defineBot } from 'switchboard'`.

export { Bot, defineBot, type CommandOptions, type Handler, type Middleware, type Next } from './bot/bot.js';
export type { ArgsOf } from './bot/command.js';
export { Context, type ReplyOptions } from './bot/context.js';
export { State, StateScope, type StateOptions } from './bot/state.js';
export type { Answer, PromptOptions } from './bot/prompt.js';
export type { ReplyStream, StreamChunk, StreamWriter } from './bot/stream.js';
export { EventContext, type EventHandler, type InterceptContext, type InterceptDecision, type Interceptor, type PlatformEvent } from './bot/events.js';
export type { Request, Result, Stage, StageHook, StageHooks, StageOutcome } from './pipeline/lifecycle.js';
export * from './message.js';
