// Counters and latency histograms, served at /metrics in the Prometheus text format.

type Labels = Record<string, string>;

const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram {
  labels: Labels;
  counts: number[];
  sum: number;
  count: number;
}

export class Metrics {
  private readonly counters = new Map<string, Map<string, { labels: Labels; value: number }>>();
  private readonly histograms = new Map<string, Map<string, Histogram>>();
  private readonly help = new Map<string, string>();

  describe(name: string, help: string): this {
    this.help.set(name, help);
    return this;
  }

  inc(name: string, labels: Labels, by = 1): void {
    const series = getOrCreate(this.counters, name);
    const key = labelKey(labels);
    const entry = series.get(key);
    if (entry) entry.value += by;
    else series.set(key, { labels, value: by });
  }

  /** One series' increment, resolved once: for a counter bumped on every message. */
  counter(name: string, labels: Labels): () => void {
    const series = getOrCreate(this.counters, name);
    const key = labelKey(labels);
    let entry = series.get(key);
    if (!entry) series.set(key, (entry = { labels, value: 0 }));
    const found = entry;
    return () => void found.value++;
  }

  observe(name: string, labels: Labels, seconds: number): void {
    const series = getOrCreate(this.histograms, name);
    const key = labelKey(labels);
    let h = series.get(key);
    if (!h) series.set(key, (h = { labels, counts: buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < buckets.length; i++) if (seconds <= buckets[i]!) h.counts[i]!++;
    h.sum += seconds;
    h.count++;
  }

  /** The value of one counter series, for tests and health output. */
  value(name: string, labels: Labels): number {
    return this.counters.get(name)?.get(labelKey(labels))?.value ?? 0;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, series] of this.counters) {
      this.header(lines, name, 'counter');
      for (const { labels, value } of series.values()) lines.push(`${name}${format(labels)} ${value}`);
    }
    for (const [name, series] of this.histograms) {
      this.header(lines, name, 'histogram');
      for (const h of series.values()) {
        buckets.forEach((le, i) => lines.push(`${name}_bucket${format({ ...h.labels, le: String(le) })} ${h.counts[i]}`));
        lines.push(`${name}_bucket${format({ ...h.labels, le: '+Inf' })} ${h.count}`);
        lines.push(`${name}_sum${format(h.labels)} ${h.sum}`, `${name}_count${format(h.labels)} ${h.count}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }

  private header(lines: string[], name: string, type: string): void {
    const help = this.help.get(name);
    if (help) lines.push(`# HELP ${name} ${help}`);
    lines.push(`# TYPE ${name} ${type}`);
  }
}

function getOrCreate<V>(map: Map<string, Map<string, V>>, name: string): Map<string, V> {
  let series = map.get(name);
  if (!series) map.set(name, (series = new Map()));
  return series;
}

function labelKey(labels: Labels): string {
  let key = '';
  for (const k in labels) key += `${k}=${labels[k]}\0`;
  return key;
}

function format(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length > 0 ? `{${parts.join(',')}}` : '';
}
