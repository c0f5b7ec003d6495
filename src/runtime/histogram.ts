// A latency histogram kept by Switchboard itself and read by prom-client's registry as any of its
// own metrics are (registerMetric, get()). prom-client's Histogram hashes and validates the labels
// at every observation, even through a child made with labels(): about 2% of a gateway event's CPU
// (bench/gateway.ts). Here a series is resolved once (series()) and an observation is a bucket
// found and three additions.

type Labels = Record<string, string>;

interface Series {
  readonly labels: Labels;
  /** Observations per bucket, not cumulative; the last counts those above every bound (+Inf). */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** A value as prom-client's registry reads it: `<name>_bucket` (with `le`), `_sum` and `_count`. */
export interface HistogramValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

export class Histogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** By the label values, joined: only observe() looks here, off the hot path. */
  private readonly byLabels = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {}

  /** The series of `labels`, resolved now: for a hot path. */
  series(labels: Labels): (value: number) => void {
    const series = this.seriesOf(labels);
    return (value) => this.record(series, value);
  }

  observe(labels: Labels, value: number): void {
    this.record(this.seriesOf(labels), value);
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: HistogramValue[] }> {
    const { name, help, type, aggregator } = this;
    const values: HistogramValue[] = [];
    for (const { labels, counts, sum, count } of this.byLabels.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => values.push({ labels: { ...labels, le }, value: (cumulative += counts[i]!), metricName: `${name}_bucket` }));
      values.push({ labels: { ...labels, le: '+Inf' }, value: count, metricName: `${name}_bucket` });
      values.push({ labels, value: sum, metricName: `${name}_sum` }, { labels, value: count, metricName: `${name}_count` });
    }
    return { name, help, type, aggregator, values };
  }

  reset(): void {
    this.byLabels.clear();
  }

  private record(series: Series, value: number): void {
    if (!Number.isFinite(value)) return;
    const { bounds } = this;
    let bucket = 0;
    while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
    series.counts[bucket]!++;
    series.sum += value;
    series.count++;
  }

  private seriesOf(labels: Labels): Series {
    const key = this.labelNames.map((name) => labels[name] ?? '').join('\0');
    let series = this.byLabels.get(key);
    if (!series) {
      const own: Labels = {};
      for (const name of this.labelNames) if (labels[name] !== undefined) own[name] = labels[name];
      series = { labels: own, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.byLabels.set(key, series);
    }
    return series;
  }
}
