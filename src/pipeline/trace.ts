// What happens to each message, told to an observer (the operator console) as it happens. With no
// observer the pipeline holds `undefined` and pays one check per step: nothing is copied for it.

import type { Message, OutgoingMessage } from '../message.js';
import type { Prompts } from './prompts.js';

/** How a stage's callback ended: the message went on as it was, changed, with content added, stopped; or the callback failed. */
export type StageTraceOutcome = 'continue' | 'patched' | 'added content' | 'stopped' | 'failed' | 'failed by policy';

export interface StageTrace {
  stage: string;
  /** The callback's URL without credentials (origin and path). */
  url: string;
  /** What was sent: headers (signatures included; the observer masks them) and the JSON body. */
  request?: { headers: Record<string, string>; body: string };
  status?: number;
  response?: { headers: Record<string, string | string[] | undefined>; body: Uint8Array };
  ms: number;
  outcome: StageTraceOutcome;
  error?: string;
  /** The stage's data after the callback's patch was merged (patched only). */
  data?: unknown;
}

export interface DeliveryTrace {
  key: string;
  message: OutgoingMessage;
  ok: boolean;
  /** The platform's ids of what it took. */
  ids: readonly string[];
  error?: string;
  ms: number;
  /** A streamed reply shown as it grew: the update calls made. */
  edits?: number;
}

export interface Trace {
  received(eventId: string, message: Message): void;
  stage(eventId: string, call: StageTrace): void;
  handled(eventId: string, ms: number, error?: unknown): void;
  delivery(eventId: string, delivery: DeliveryTrace): void;
  /** The run ended: its outcome (answered, rejected…), or `left` for the next start. */
  finished(eventId: string, outcome: string, ms: number): void;
}

/** Prompts whose handler runs (first turns and resumed ones) are timed for `trace`: the handler's duration and whether it threw. */
export function tracedPrompts(prompts: Prompts, trace: Trace): Prompts {
  const timed = (eventId: string, start: () => void | Promise<void>): void | Promise<void> => {
    const started = performance.now();
    const failed = (error: unknown) => {
      trace.handled(eventId, performance.now() - started, error);
      throw error;
    };
    let running: void | Promise<void>;
    try {
      running = start();
    } catch (error) {
      return failed(error);
    }
    if (!running) return trace.handled(eventId, performance.now() - started);
    return running.then(() => trace.handled(eventId, performance.now() - started), failed);
  };
  const run: Prompts['run'] = (ctx, handler) => timed(ctx.eventId, () => prompts.run(ctx, handler));
  const resume: Prompts['resume'] = (resumption, turn) => timed(turn.eventId, () => prompts.resume(resumption, turn)) as Promise<void>;
  // Other methods bound once each, not on every call.
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(prompts, {
    get(target, key) {
      if (key === 'run') return run;
      if (key === 'resume') return resume;
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      let method = bound.get(key);
      if (method === undefined) bound.set(key, (method = value.bind(target)));
      return method;
    },
  });
}
