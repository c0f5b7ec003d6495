// Counters and latency histograms, served at /metrics in the Prometheus text format by prom-client,
// next to its default Node.js and process metrics.
//
// prom-client (and what it pulls in) is loaded when a counter is first handed to it or /metrics is
// first read, not at start: a runtime counts nothing before its first message, and loading it was
// a tenth of a sandbox start. The default metrics count from then on (CPU time is the process's
// whole). Histograms are Switchboard's own (histogram.ts), read by its registry.

import { createRequire } from 'node:module';
import type { Counter, Metric, Registry } from 'prom-client';
import { Histogram } from './histogram.js';

type PromClient = typeof import('prom-client');
let promClient: PromClient | undefined;
const prom = (): PromClient => (promClient ??= createRequire(import.meta.url)('prom-client') as PromClient);

type Labels = Record<string, string>;

const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The process's own metrics (CPU, memory, event loop, GC): one set per process, however many runtimes it holds. */
let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new (prom().Registry)();
    prom().collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class Metrics {
  /** What /metrics is served as: Prometheus text format 0.0.4. */
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  private registered: Registry | undefined;
  /** Gauges declared before prom-client was loaded, registered with it when it is. */
  private readonly gauges: [name: string, read: () => number][] = [];
  private readonly counters = new Map<string, Counter>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly help = new Map<string, string>();
  /** Increments counted by counter() since the last read, handed to prom-client when it is read. */
  private readonly pending: (() => void)[] = [];

  /** This runtime's registry, made (and prom-client loaded) on first use. */
  private get registry(): Registry {
    if (!this.registered) {
      processMetrics();
      this.registered = new (prom().Registry)();
      for (const [name, read] of this.gauges) this.register(name, read);
      for (const histogram of this.histograms.values()) this.registered.registerMetric(histogram as unknown as Metric);
    }
    return this.registered;
  }

  /** Every metric is described before its first use: /metrics shows HELP for each series. */
  describe(name: string, help: string): this {
    this.help.set(name, help);
    return this;
  }

  inc(name: string, labels: Labels, by = 1): void {
    this.counterOf(name, labels).inc(labels, by);
  }

  /** One series' increment, resolved once: for a counter bumped on every message (a plain addition; prom-client hears of it when read). */
  counter(name: string, labels: Labels): () => void {
    this.helpOf(name);
    let series: Counter.Internal | undefined;
    let count = 0;
    this.pending.push(() => {
      if (count > 0) (series ??= this.counterOf(name, labels).labels(labels)).inc(count);
      count = 0;
    });
    return () => void count++;
  }

  observe(name: string, labels: Labels, seconds: number): void {
    this.histogramOf(name, labels).observe(labels, seconds);
  }

  /** One series of a histogram, its labels resolved now: for a hot path, where observe() would look them up at every call. */
  timing(name: string, labels: Labels): (seconds: number) => void {
    return this.histogramOf(name, labels).series(labels);
  }

  /** Switchboard's own histogram (histogram.ts), registered with prom-client's registry once that is made. */
  private histogramOf(name: string, labels: Labels): Histogram {
    let histogram = this.histograms.get(name);
    if (!histogram) {
      histogram = new Histogram(name, this.helpOf(name), Object.keys(labels), buckets);
      this.histograms.set(name, histogram);
      this.registered?.registerMetric(histogram as unknown as Metric);
    }
    return histogram;
  }

  /** A gauge with no labels whose value is `read()` when /metrics is served: nothing to keep up to date in between. */
  gauge(name: string, read: () => number): void {
    this.helpOf(name);
    if (this.registered) this.register(name, read);
    else this.gauges.push([name, read]);
  }

  private register(name: string, read: () => number): void {
    new (prom().Gauge)({
      name,
      help: this.helpOf(name),
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** The value of one counter series, for tests and health output. */
  async value(name: string, labels: Labels): Promise<number> {
    this.flush();
    const counter = this.counters.get(name);
    if (!counter) return 0;
    const { values } = await counter.get();
    const keys = Object.keys(labels);
    const found = values.find((v) => keys.length === Object.keys(v.labels).length && keys.every((k) => String(v.labels[k]) === labels[k]));
    return found?.value ?? 0;
  }

  /** Every series of a counter or histogram (a histogram's as `<name>_bucket`, `_sum`, `_count`): what the console samples. */
  async series(name: string): Promise<{ labels: Partial<Record<string, string | number>>; value: number; metricName?: string }[]> {
    this.flush();
    const metric = this.counters.get(name) ?? this.histograms.get(name);
    return metric ? (await metric.get()).values : [];
  }

  async render(): Promise<string> {
    this.flush();
    const own = await this.registry.metrics();
    return `${await processMetrics().metrics()}\n${own}`;
  }

  private flush(): void {
    for (const hand of this.pending) hand();
  }

  private counterOf(name: string, labels: Labels): Counter {
    let counter = this.counters.get(name);
    if (!counter) {
      counter = new (prom().Counter)({ name, help: this.helpOf(name), labelNames: Object.keys(labels), registers: [this.registry] });
      this.counters.set(name, counter);
    }
    return counter;
  }

  private helpOf(name: string): string {
    const help = this.help.get(name);
    if (!help) throw new Error(`metric ${name} has no description: call metrics.describe("${name}", …) before its first use`);
    return help;
  }
}
