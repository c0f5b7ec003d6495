import { describe, expect, it } from 'vitest';
import { classifyStatus, freshState, nextDelay, PlatformError, rateLimited, retry, retryAfterMs, retryable, sleep, type RetryPolicy } from '../src/delivery/retry.js';

const policy: RetryPolicy = { attempts: 6, initialDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 60_000 };

describe('retry policy', () => {
  it('waits with full jitter: uniform in [0, min(cap, initial * 2^n)]', () => {
    const caps: number[] = [];
    const state = freshState();
    for (let n = 0; n < 5; n++) caps.push(nextDelay(policy, state, retryable, () => 1)!);
    expect(caps).toEqual([100, 200, 400, 800, 1000]); // doubles, then the cap holds
    expect(nextDelay(policy, freshState(), retryable, () => 0)).toBe(0);
    const spread = new Set(Array.from({ length: 200 }, () => nextDelay(policy, { failures: 3, refreshedToken: false }, retryable)!));
    for (const wait of spread) expect(wait).toBeGreaterThanOrEqual(0), expect(wait).toBeLessThanOrEqual(800);
    expect(spread.size).toBeGreaterThan(50); // jittered, not a fixed wait
  });

  it('gives up after the attempts (the first included) and at once on a fatal failure', () => {
    const state = freshState();
    const waits = Array.from({ length: 6 }, () => nextDelay(policy, state, retryable, () => 0.5));
    expect(waits.filter((w) => w !== undefined)).toHaveLength(5);
    expect(waits.at(-1)).toBeUndefined();
    expect(nextDelay(policy, freshState(), { kind: 'fatal' })).toBeUndefined();
  });

  it("honours the platform's wait as a floor, with a little jitter, and gives up on one longer than maxRetryAfter", () => {
    for (let i = 0; i < 50; i++) {
      const wait = nextDelay(policy, freshState(), rateLimited(3000))!;
      expect(wait).toBeGreaterThanOrEqual(3000);
      expect(wait).toBeLessThanOrEqual(3300);
    }
    expect(nextDelay(policy, freshState(), rateLimited(61_000))).toBeUndefined();
    // Rate-limited without a hint backs off like any retryable failure.
    expect(nextDelay(policy, freshState(), rateLimited(), () => 1)).toBe(100);
  });

  it('refreshes a token once, at once, without spending an attempt; a second refusal is final', () => {
    const state = freshState();
    expect(nextDelay(policy, state, { kind: 'auth' })).toBe(0);
    expect(state.failures).toBe(0);
    expect(nextDelay(policy, state, { kind: 'auth' })).toBeUndefined();
  });

  it('reads Retry-After as seconds or an HTTP date, and classifies statuses', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs('0.5')).toBe(500);
    expect(retryAfterMs(['7'])).toBe(7000);
    expect(retryAfterMs('Sun, 29 Nov 2026 10:00:10 GMT', Date.parse('Sun, 29 Nov 2026 10:00:00 GMT'))).toBe(10_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(classifyStatus(429, '3')).toEqual({ kind: 'rate-limited', afterMs: 3000 });
    expect(classifyStatus(503)).toEqual({ kind: 'retryable' });
    expect(classifyStatus(503, '4')).toEqual({ kind: 'rate-limited', afterMs: 4000 });
    expect(classifyStatus(401)).toEqual({ kind: 'auth' });
    expect(classifyStatus(400)).toEqual({ kind: 'fatal' });
  });
});

describe('retry()', () => {
  it('calls again until it succeeds, and tells each wait', async () => {
    let calls = 0;
    const waits: number[] = [];
    const value = await retry(
      async () => {
        if (++calls < 3) throw new PlatformError('busy', retryable);
        return 'done';
      },
      { policy: { ...policy, initialDelayMs: 5 }, onRetry: (_e, wait) => waits.push(wait) },
    );
    expect(value).toBe('done');
    expect(calls).toBe(3);
    expect(waits).toHaveLength(2);
  });

  it('throws the last error when the policy gives up, and does not retry what it cannot read', async () => {
    let calls = 0;
    await expect(retry(async () => Promise.reject(new PlatformError(`no ${++calls}`, retryable)), { policy: { ...policy, attempts: 3, initialDelayMs: 1 } })).rejects.toThrow('no 3');
    calls = 0;
    await expect(retry(async () => Promise.reject(new Error(`plain ${++calls}`)), { policy })).rejects.toThrow('plain 1');
  });

  it('stops waiting at once when aborted, and throws the last error', async () => {
    const controller = new AbortController();
    let calls = 0;
    const started = performance.now();
    const attempt = retry(async () => Promise.reject(new PlatformError(`down ${++calls}`, rateLimited(30_000))), { policy, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(attempt).rejects.toThrow('down 1');
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await sleep(10_000, controller.signal)).toBe(false);
  });
});
