// The one retry policy every outbound call goes through: exponential backoff with full jitter
// under a cap, the platform's own wait (Retry-After, retry_after…) honoured, a stale token
// refreshed once, abortable on shutdown. Adapters only say what kind of failure they saw.

/**
 * What went wrong, as the adapter that saw it classifies it:
 * - `retryable`: nothing was done, or doing it again cannot double it (5xx, a refused connection)
 * - `rate-limited`: the platform asked us to slow down, maybe saying for how long
 * - `auth`: the token was refused; the adapter has already forgotten it, so one more try fetches a new one
 * - `fatal`: trying again cannot help (a bad request, a chat the bot was removed from)
 */
export type Failure =
  | { kind: 'retryable' }
  /** `scope`: what the limit covers, the chat (the default) or everything the bot sends (an app-wide quota). */
  | { kind: 'rate-limited'; afterMs?: number; scope?: 'chat' | 'bot' }
  | { kind: 'auth' }
  | { kind: 'fatal' };

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** The cap of the first backoff; it doubles per failure up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A platform asking for a longer wait than this is not waited for: the call fails. */
  maxRetryAfterMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 6, initialDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 300_000 };

/** For a call that is worth exactly one more try after a stale token, and none for anything else (a supervisor owns the backoff). */
export const refreshOnlyPolicy: RetryPolicy = { ...defaultRetryPolicy, attempts: 1 };

/** An error that carries its classification: what adapters throw from the calls they make. */
export class PlatformError extends Error {
  override name = 'PlatformError';
  constructor(
    message: string,
    readonly failure: Failure,
  ) {
    super(message);
  }
}

export const retryable: Failure = { kind: 'retryable' };
export const fatal: Failure = { kind: 'fatal' };
export const auth: Failure = { kind: 'auth' };
export const rateLimited = (afterMs?: number, scope?: 'chat' | 'bot'): Failure => ({ kind: 'rate-limited', ...(afterMs === undefined ? {} : { afterMs }), ...(scope ? { scope } : {}) });

/** Where one call stands in its policy: failures seen so far, and whether the token was already refreshed. */
export interface RetryState {
  failures: number;
  refreshedToken: boolean;
}

export const freshState = (): RetryState => ({ failures: 0, refreshedToken: false });

/**
 * How long to wait before the next try after `failure`, or undefined to give up. Updates `state`.
 * Full jitter: a uniform wait in [0, min(cap, initial * 2^n)] spreads a fleet's retries apart.
 */
export function nextDelay(policy: RetryPolicy, state: RetryState, failure: Failure, random: () => number = Math.random): number | undefined {
  if (failure.kind === 'fatal') return undefined;
  if (failure.kind === 'auth') {
    if (state.refreshedToken) return undefined;
    state.refreshedToken = true;
    return 0; // the refresh is the fix; it does not count against the attempts
  }
  state.failures++;
  if (state.failures >= policy.attempts) return undefined;
  if (failure.kind === 'rate-limited' && failure.afterMs !== undefined) {
    if (failure.afterMs > policy.maxRetryAfterMs) return undefined;
    // The platform's wait is the floor; a little jitter keeps many waiters from returning at once.
    return Math.ceil(failure.afterMs + random() * Math.min(1000, failure.afterMs * 0.1));
  }
  const cap = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (state.failures - 1));
  return Math.round(random() * cap);
}

export interface RetryOptions {
  policy?: RetryPolicy;
  /** How the adapter reads an error; by default a PlatformError's own failure, anything else is fatal. */
  classify?: (error: unknown) => Failure;
  /** Aborted on shutdown: a wait in progress ends at once and the last error is thrown. */
  signal?: AbortSignal;
  /** Told before each wait, e.g. to log it. */
  onRetry?: (error: unknown, waitMs: number, state: RetryState) => void;
  random?: () => number;
}

export function classifyError(error: unknown): Failure {
  return error instanceof PlatformError ? error.failure : fatal;
}

/** Calls `attempt` until it resolves or the policy gives up; then throws the last error. */
export async function retry<T>(attempt: (state: RetryState) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { policy = defaultRetryPolicy, classify = classifyError, signal, onRetry, random } = options;
  const state = freshState();
  for (;;) {
    try {
      return await attempt(state);
    } catch (error) {
      if (signal?.aborted) throw error;
      const wait = nextDelay(policy, state, classify(error), random);
      if (wait === undefined) throw error;
      onRetry?.(error, wait, state);
      if (!(await sleep(wait, signal))) throw error;
    }
  }
}

/** Resolves true after `ms`, or false at once when `signal` aborts (before or during the wait). */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      resolve(false);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Seconds or an HTTP date, as a Retry-After header carries them; undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.round(seconds * 1000) : undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * A failed HTTP exchange by its status: 429 rate-limited (with its Retry-After), 401 auth,
 * 408/5xx retryable, any other 4xx fatal.
 */
export function classifyStatus(status: number, retryAfterHeader?: string | string[]): Failure {
  if (status === 429) return rateLimited(retryAfterMs(retryAfterHeader));
  if (status === 401) return auth;
  if (status === 408 || status >= 500) return retryAfterMs(retryAfterHeader) === undefined ? retryable : rateLimited(retryAfterMs(retryAfterHeader));
  return fatal;
}

/** Network errors raised before the request left: nothing reached the platform, so trying again cannot send twice. */
const notSentCodes = new Set(['ECONNREFUSED', 'EAI_AGAIN', 'ENOTFOUND', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * A request that threw instead of answering. `idempotent`: whether the platform would recognise
 * a repeat (an idempotency key, or a call that changes nothing); if not, only errors raised
 * before anything was sent are worth another try.
 */
export function classifyNetworkError(error: unknown, idempotent: boolean): Failure {
  const code = (error as { code?: unknown; cause?: { code?: unknown } }).code ?? (error as { cause?: { code?: unknown } }).cause?.code;
  if (typeof code === 'string' && notSentCodes.has(code)) return retryable;
  return idempotent ? retryable : fatal;
}
