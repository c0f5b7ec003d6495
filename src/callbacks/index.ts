// Outbound HTTP callbacks at every lifecycle stage: the operator's way to steer without code.

import type { PlatformEvent } from '../bot/events.js';
import type { Stage, StageData, StageHook, StageHooks, StageOutcome, StageValue } from '../pipeline/lifecycle.js';
import type { Logger } from '../runtime/logger.js';
import type { Segment } from '../message.js';
import type { Metrics } from '../runtime/metrics.js';
import { stageSchemas } from '../pipeline/schema.js';
import { errorMessage } from '../inbound/supervisor.js';
import { fatal, PlatformError, retry, retryable } from '../delivery/retry.js';
import { CallbackError, postJson, redactUrl, type CallbackResponse } from './client.js';
import type { CallbackConfig, CallbacksConfig } from './config.js';
import { deepMerge } from './merge.js';
import { callbackPolicy, exchangeFailure } from './policy.js';
import { buildEventPayload, buildPayload, limitVerdict, stagePatch, stageParts } from './payload.js';
import { interpret } from './reply.js';
import { notAnAnswer } from './server-error.js';
import { secretKey, signatureHeaders } from './signing.js';
import { traceCall, traceFailure } from './trace.js';
import type { Trace } from '../pipeline/trace.js';

export { callbacksSchema, type CallbacksConfig } from './config.js';

export interface BotInfo {
  id: string;
  type: string;
  selfId?: string;
}

export interface CallbackDeps {
  logger: Logger;
  metrics: Metrics;
  /** The running config with every secret removed, already serialized: it is the same for every call. */
  configJson: string;
  bot(botId: string): BotInfo;
  /** Told each call's request, answer and outcome (the operator console); absent, nothing is kept. */
  trace?: Trace;
}

const proceed = { kind: 'continue' } as const;

/** Stage hooks for the configured callbacks; a stage with no URL gets no hook and costs nothing. */
export function createCallbackHooks(config: CallbacksConfig, deps: CallbackDeps): StageHooks {
  deps.metrics
    .describe('switchboard_callback_calls_total', 'Callback requests by stage and outcome (1xx-5xx status class, timeout, error)')
    .describe('switchboard_callback_seconds', 'Callback round-trip time by stage');
  const hooks: StageHooks = { budgetMs: config.budget };
  for (const stage of ['onMessage', 'onPreSend', 'onResult', 'onSent'] as const) {
    const stageConfig = config[stage];
    if (stageConfig) hooks[stage] = hook(stage, stageConfig, deps) as never;
  }
  if (config.onEvent) hooks.onEvent = eventHook(config.onEvent, deps);
  const onResult = config.onResult;
  if (onResult) hooks.resultStreams = (message) => (!onResult.platforms || onResult.platforms.includes(message.botId) ? (onResult.stream ?? 'collect') : undefined);
  return hooks;
}

/** onEvent only observes: its reply is not interpreted; a failure is logged and counted. */
function eventHook(config: CallbackConfig, deps: CallbackDeps): (event: PlatformEvent) => Promise<void> {
  const key = config.secret ? secretKey(config.secret) : undefined;
  const logger = deps.logger.child({ stage: 'onEvent', callback: redactUrl(config.url) });
  return async (event) => {
    if (config.platforms && !config.platforms.includes(event.botId)) return;
    const body = buildEventPayload(event, deps.bot(event.botId), deps.configJson);
    const started = performance.now();
    try {
      const response = await postJson(config.url, body, key ? signatureHeaders(key, `${event.id}.onEvent`, body) : {}, config.timeout, config.maxResponseSize);
      record(deps.metrics, 'onEvent', statusClass(response.status), started);
    } catch (error) {
      record(deps.metrics, 'onEvent', error instanceof CallbackError && error.reason === 'timeout' ? 'timeout' : 'error', started);
      logger.warn({ event: event.id, err: errorMessage(error) }, 'callback failed');
    }
  };
}

function hook<S extends Stage>(stage: S, config: CallbackConfig, deps: CallbackDeps): StageHook<S> {
  const key = config.secret ? secretKey(config.secret) : undefined;
  const logger = deps.logger.child({ stage, callback: redactUrl(config.url) });
  // onSent runs in the background after delivery, so it can afford bounded retries; the others cannot.
  const policy = callbackPolicy(stage === 'onSent' ? config.retries : 0, config.retryDelay);

  return async (_stage, data, budget) => {
    if (config.platforms && !config.platforms.includes(data.message.botId)) return proceed;
    const log = logger.child({ event: data.eventId });
    if (budget.aborted) {
      log.warn({ policy: config.onError }, "callback skipped: the message's callback budget is spent");
      traceFailure(deps.trace, data.eventId, stage, config, "skipped: the message's callback budget is spent");
      return failed(stage, config);
    }
    const body = buildPayload(stage, data, deps.bot(data.message.botId), deps.configJson);
    if (body.length > config.maxRequestSize) {
      log.warn({ bytes: body.length, policy: config.onError }, 'callback payload over maxRequestSize; not sent');
      traceFailure(deps.trace, data.eventId, stage, config, `payload of ${body.length} bytes over maxRequestSize; not sent`);
      return failed(stage, config);
    }
    const request: Outbound = { url: config.url, body, key, id: `${data.eventId}.${stage}`, budget };
    try {
      const once = () => callOnce(stage, config, request, data, deps.metrics, log);
      return await retry(deps.trace ? () => traceCall(deps.trace!, data.eventId, stage, request, once) : once, {
        policy,
        onRetry: (error, waitMs, state) => log.warn({ err: errorMessage(error), attempt: state.failures, retryInMs: waitMs }, 'callback failed; retrying'),
      });
    } catch (error) {
      log.warn({ err: errorMessage(error), policy: config.onError }, 'callback failed');
      traceFailure(deps.trace, data.eventId, stage, config, errorMessage(error));
      return failed(stage, config);
    }
  };
}

function failed<S extends Stage>(stage: S, config: CallbackConfig): StageOutcome<S> {
  return config.onError === 'reject' && stage !== 'onSent' ? { kind: 'reject', reply: [{ type: 'text', text: config.errorMessage }] } : proceed;
}

export interface Outbound {
  url: string;
  body: string;
  key: Buffer | undefined;
  /** webhook-id: the same on every try of one stage call. */
  id: string;
  /** Aborted when the message's callback budget is spent. */
  budget: AbortSignal;
  /** Filled by each try for the trace: the headers sent and the answer received. */
  seen?: { headers?: Record<string, string>; response?: CallbackResponse };
}

/** One try: the stage's outcome, or a PlatformError that says whether another try can help. */
async function callOnce<S extends Stage>(stage: S, config: CallbackConfig, request: Outbound, data: StageData, metrics: Metrics, log: Logger): Promise<StageOutcome<S>> {
  const started = performance.now();
  // Signed afresh on every try: receivers reject a webhook-timestamp older than a few minutes.
  const headers = request.key ? signatureHeaders(request.key, request.id, request.body) : {};
  if (request.seen) request.seen.headers = headers;
  let response;
  try {
    response = await postJson(request.url, request.body, headers, config.timeout, config.maxResponseSize, request.budget);
  } catch (error) {
    const timedOut = request.budget.aborted || (error instanceof CallbackError && error.reason === 'timeout');
    record(metrics, stage, timedOut ? 'timeout' : 'error', started);
    if (request.budget.aborted) throw new PlatformError("no reply before the message's callback budget ran out", fatal);
    throw new PlatformError(errorMessage(error), exchangeFailure(error));
  }
  record(metrics, stage, statusClass(response.status), started);
  if (request.seen) request.seen.response = response;
  if (response.status >= 500) {
    // After delivery nothing can be stopped; a server error there is worth another try instead.
    if (stage === 'onSent') throw new PlatformError(`HTTP ${response.status}`, retryable);
    const why = config.serverErrors === 'fail' ? 'serverErrors is fail' : notAnAnswer(response);
    if (why) throw new PlatformError(`HTTP ${response.status}: ${why}; not shown to the user`, fatal);
  }
  try {
    return outcome(stage, data, interpret(response), log);
  } catch (error) {
    throw new PlatformError(errorMessage(error), fatal);
  }
}

function outcome<S extends Stage>(stage: S, data: StageData, reply: ReturnType<typeof interpret>, log: Logger): StageOutcome<S> {
  if (reply.kind === 'stop') {
    if (stage === 'onSent') {
      log.info('onSent answered with an error status; the messages were already delivered');
      return proceed;
    }
    return { kind: 'reject', reply: reply.content };
  }
  if (reply.kind === 'continue') return reply.content ? { kind: 'continue', extra: [reply.content] } : proceed;
  if (stage === 'onSent') return proceed; // nothing left to change after delivery
  const exceeded = stage === 'onMessage' && data.limit ? limitVerdict(reply.answer) : undefined;
  const part = stageParts[stage as keyof typeof stageParts];
  const patch = stagePatch(part, reply.answer);
  if (patch === undefined) return exceeded === undefined ? proceed : { kind: 'continue', exceeded };
  const current = data[part];
  const merged = stageSchemas()[part].safeParse(deepMerge(current, patch));
  if (!merged.success) {
    const issue = merged.error.issues[0]!;
    throw new CallbackError(`merged ${part} is invalid at ${issue.path.join('.') || '(root)'}: ${issue.message}`, 'invalid');
  }
  return { kind: 'continue', data: merged.data as StageValue<S>, exceeded };
}

function record(metrics: Metrics, stage: Stage | 'onEvent', outcome: string, started: number): void {
  metrics.inc('switchboard_callback_calls_total', { stage, outcome });
  metrics.observe('switchboard_callback_seconds', { stage }, (performance.now() - started) / 1000);
}

function statusClass(status: number): string {
  return status >= 200 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

export type { Segment };
