// The console's charts: the counters behind /metrics sampled every few seconds into a ring that
// covers the last hour, in memory. A chart is the difference between neighbouring samples.

import type { Metrics } from '../runtime/metrics.js';

interface Sample {
  at: number;
  /** Messages handled, by platform, and how many of them ended in failure. */
  messages: Record<string, number>;
  failed: number;
  /** Callback calls by stage and how many failed (5xx, timeout, no connection). */
  calls: Record<string, { total: number; errors: number }>;
  /** Callback latency histogram by stage: cumulative counts per bucket bound. */
  buckets: Record<string, [le: number, count: number][]>;
  deliveries: { delivered: number; dead: number };
}

export interface Charts {
  at: number[];
  messagesPerMinute: Record<string, number[]>;
  /** Seconds; null where a stage had no call in the interval. */
  latency: Record<string, { p50: (number | null)[]; p99: (number | null)[] }>;
  /** Fractions 0..1; null where nothing happened. */
  errorRate: { messages: (number | null)[]; callbacks: (number | null)[]; deliveries: (number | null)[] };
}

const failedOutcomes = new Set(['handler failed', 'delivery failed', 'failed']);
const failedCalls = new Set(['5xx', 'timeout', 'error']);

export class Numbers {
  private readonly ring: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly keep: number;

  constructor(
    private readonly metrics: Metrics,
    readonly intervalMs = 10_000,
    windowMs = 60 * 60 * 1000,
  ) {
    this.keep = Math.ceil(windowMs / intervalMs) + 1;
  }

  start(): void {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async sample(now = Date.now()): Promise<void> {
    const { metrics } = this;
    const sample: Sample = { at: now, messages: {}, failed: 0, calls: {}, buckets: {}, deliveries: { delivered: 0, dead: 0 } };
    for (const { labels, value } of await metrics.series('switchboard_messages_total')) {
      const platform = String(labels.platform);
      sample.messages[platform] = (sample.messages[platform] ?? 0) + value;
      if (failedOutcomes.has(String(labels.outcome))) sample.failed += value;
    }
    for (const { labels, value } of await metrics.series('switchboard_callback_calls_total')) {
      const calls = (sample.calls[String(labels.stage)] ??= { total: 0, errors: 0 });
      calls.total += value;
      if (failedCalls.has(String(labels.outcome))) calls.errors += value;
    }
    for (const { labels, value, metricName } of await metrics.series('switchboard_callback_seconds')) {
      if (!metricName?.endsWith('_bucket')) continue;
      (sample.buckets[String(labels.stage)] ??= []).push([Number(labels.le), value]);
    }
    for (const { labels, value } of await metrics.series('switchboard_deliveries_total')) {
      if (labels.outcome === 'delivered' || labels.outcome === 'dead') sample.deliveries[labels.outcome] += value;
    }
    this.ring.push(sample);
    if (this.ring.length > this.keep) this.ring.shift();
  }

  charts(): Charts {
    const charts: Charts = { at: [], messagesPerMinute: {}, latency: {}, errorRate: { messages: [], callbacks: [], deliveries: [] } };
    const platforms = new Set(this.ring.flatMap((s) => Object.keys(s.messages)));
    const stages = new Set(this.ring.flatMap((s) => Object.keys(s.buckets)));
    for (const p of platforms) charts.messagesPerMinute[p] = [];
    for (const s of stages) charts.latency[s] = { p50: [], p99: [] };
    for (let i = 1; i < this.ring.length; i++) {
      const [before, after] = [this.ring[i - 1]!, this.ring[i]!];
      const minutes = (after.at - before.at) / 60_000;
      charts.at.push(after.at);
      let handled = 0;
      for (const p of platforms) {
        const count = (after.messages[p] ?? 0) - (before.messages[p] ?? 0);
        handled += count;
        charts.messagesPerMinute[p]!.push(minutes > 0 ? Math.round((count / minutes) * 10) / 10 : 0);
      }
      for (const s of stages) {
        const deltas = delta(before.buckets[s] ?? [], after.buckets[s] ?? []);
        charts.latency[s]!.p50.push(quantile(deltas, 0.5));
        charts.latency[s]!.p99.push(quantile(deltas, 0.99));
      }
      charts.errorRate.messages.push(rate(after.failed - before.failed, handled));
      let calls = 0;
      let errors = 0;
      for (const [stage, c] of Object.entries(after.calls)) {
        calls += c.total - (before.calls[stage]?.total ?? 0);
        errors += c.errors - (before.calls[stage]?.errors ?? 0);
      }
      charts.errorRate.callbacks.push(rate(errors, calls));
      const dead = after.deliveries.dead - before.deliveries.dead;
      charts.errorRate.deliveries.push(rate(dead, dead + after.deliveries.delivered - before.deliveries.delivered));
    }
    return charts;
  }
}

function rate(part: number, whole: number): number | null {
  return whole > 0 ? part / whole : null;
}

function delta(before: [number, number][], after: [number, number][]): [number, number][] {
  const earlier = new Map(before);
  return after.map(([le, count]) => [le, count - (earlier.get(le) ?? 0)]);
}

/** The q-quantile of a cumulative histogram, interpolated inside its bucket (as Prometheus' histogram_quantile does). */
export function quantile(buckets: [number, number][], q: number): number | null {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let [lowerLe, lowerCount] = [0, 0];
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return lowerLe;
      return lowerLe + ((le - lowerLe) * (rank - lowerCount)) / Math.max(1, count - lowerCount);
    }
    [lowerLe, lowerCount] = [le, count];
  }
  return lowerLe;
}
