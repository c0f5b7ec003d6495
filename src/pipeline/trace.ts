// What happens to each message, told to an observer (the operator console) as it happens. With no
// observer the pipeline holds `undefined` and pays one check per step: nothing is copied for it.

import type { Message, OutgoingMessage } from '../message.js';

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
