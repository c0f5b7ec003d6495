// The JSON every stage receives, and how a JSON answer maps back onto the stage's data: koipy's
// servers answer with the whole payload they were sent (changed where they meant to change it),
// documented servers with just the stage's part.

import type { PlatformEvent } from '../bot/events.js';
import type { Stage, StageData } from '../pipeline/lifecycle.js';
import { toJson } from '../pipeline/schema.js';
import type { BotInfo } from './index.js';

/** The part of the payload a stage may change. */
export const stageParts = { onMessage: 'message', onPreSend: 'request', onResult: 'result' } as const;
export type StagePart = (typeof stageParts)[keyof typeof stageParts];

/**
 * Top-level payload keys that no message, request or result has at its own top level, so an
 * answer carrying one of them can only be the payload form. `timestamp` is not one: a message
 * has a timestamp too, and `{ "timestamp": … }` at onMessage stays a patch of the message.
 */
export const payloadOnlyKeys: readonly string[] = ['stage', 'eventId', 'redelivered', 'bot', 'message', 'limit', 'request', 'result', 'delivery', 'config', 'addons'];

/** The JSON every stage receives. The redacted config is spliced in as a ready string. */
export function buildPayload(stage: Stage, data: StageData, bot: BotInfo, configJson: string): string {
  const head = toJson({
    stage,
    eventId: data.eventId,
    ...(data.redelivered ? { redelivered: true } : {}),
    timestamp: Date.now(),
    bot,
    message: data.message,
    limit: data.limit,
    request: data.request,
    result: data.result,
    delivery: data.deliveries,
  });
  return withConfig(head, configJson);
}

/** onEvent's payload: the event in place of the message. */
export function buildEventPayload(event: PlatformEvent, bot: BotInfo, configJson: string): string {
  return withConfig(toJson({ stage: 'onEvent', eventId: event.id, timestamp: Date.now(), bot, event }), configJson);
}

function withConfig(head: string, configJson: string): string {
  return `${head.slice(0, -1)},"config":${configJson},"addons":{}}`;
}

/**
 * What of a JSON answer is merged into the stage's data. The payload form (an object with any
 * payload-only key) contributes only its part for this stage; everything else in it, `config`,
 * `bot`, `eventId` and the other stages' parts included, is read-only and ignored. Any other
 * answer is the patch itself. `undefined`: nothing to change.
 */
export function stagePatch(part: StagePart, answer: unknown): unknown {
  if (!isObject(answer) || !payloadOnlyKeys.some((key) => Object.hasOwn(answer, key))) return answer;
  return answer[part];
}

/**
 * An onMessage answer's word on the per-user limit: `limit.exceeded` of a payload-form answer,
 * when it is a boolean. Undefined otherwise, and the count decides: a whole payload sent back
 * unchanged says what the count said.
 */
export function limitVerdict(answer: unknown): boolean | undefined {
  if (!isObject(answer) || !isObject(answer.limit)) return undefined;
  const { exceeded } = answer.limit;
  return typeof exceeded === 'boolean' ? exceeded : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
