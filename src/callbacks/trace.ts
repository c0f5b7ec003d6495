// Each callback try as the operator console shows it: what was sent, what came back, what it meant.

import type { StageOutcome, Stage } from '../pipeline/lifecycle.js';
import type { StageTrace, StageTraceOutcome, Trace } from '../pipeline/trace.js';
import { errorMessage } from '../inbound/supervisor.js';
import { redactUrl } from './client.js';
import type { CallbackConfig } from './config.js';
import type { Outbound } from './index.js';

/** Runs one try with its exchange recorded, and tells `trace` how it went. */
export async function traceCall<S extends Stage>(trace: Trace, eventId: string, stage: S, request: Outbound, once: () => Promise<StageOutcome<S>>): Promise<StageOutcome<S>> {
  const seen: NonNullable<Outbound['seen']> = {};
  request.seen = seen;
  const started = performance.now();
  const exchange = (): StageTrace => ({
    stage,
    url: redactUrl(request.url),
    request: { headers: { 'content-type': 'application/json', ...seen.headers }, body: request.body },
    status: seen.response?.status,
    response: seen.response && { headers: seen.response.headers, body: seen.response.body },
    ms: performance.now() - started,
    outcome: 'continue',
  });
  try {
    const outcome = await once();
    const data = outcome.kind === 'continue' ? outcome.data : undefined;
    trace.stage(eventId, { ...exchange(), outcome: outcomeName(outcome), ...(data === undefined ? {} : { data }) });
    return outcome;
  } catch (error) {
    trace.stage(eventId, { ...exchange(), outcome: 'failed', error: errorMessage(error) });
    throw error;
  }
}

/** The callback gave up (or was never called): the policy (`onError`) decides what happens to the message. */
export function traceFailure(trace: Trace | undefined, eventId: string, stage: Stage, config: CallbackConfig, why: string): void {
  trace?.stage(eventId, { stage, url: redactUrl(config.url), ms: 0, outcome: 'failed by policy', error: `${why} (onError: ${config.onError})` });
}

function outcomeName(outcome: StageOutcome<Stage>): StageTraceOutcome {
  if (outcome.kind === 'reject') return 'stopped';
  if (outcome.data !== undefined) return 'patched';
  return outcome.extra?.length ? 'added content' : 'continue';
}
