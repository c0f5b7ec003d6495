// What every bench row is: one system's name and one sample per round, so the table can print a
// median with its min–max. Extra row producers (bench/run.ts, `producers`) return these.

export interface Sample {
  /** Messages sent in the measured window, and how many never got their answer (an HTTP error or no reply). */
  requests: number;
  errors: number;
  seconds: number;
  /** Answered messages per second. */
  rps: number;
  /** NaN where a row has no latency (a fan-in with no reply). */
  p50Ms: number;
  p99Ms: number;
  /** The system's own CPU time (user + system, summed over its processes) over the measured window, per message. */
  cpuMicrosPerMessage: number;
  /** Peak RSS, summed over the system's processes; NaN when not known. */
  rssBytes: number;
}

export interface Row {
  name: string;
  samples: Sample[];
}

export interface RowOptions {
  rounds: number;
  quick: boolean;
}

/** A source of extra rows (the gateway fan-in, …): runs its own interleaved rounds and returns its rows. */
export type RowProducer = (options: RowOptions) => Promise<Row[]>;

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((x, y) => x - y);
  if (sorted.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

export function spreadOf(row: Row, pick: (sample: Sample) => number): Spread {
  return spread(row.samples.map(pick));
}

/**
 * row / reference, in req/s unless `pick` says otherwise. Rows measured in the same rounds are paired
 * round by round (two neighbours in time share the machine's mood); otherwise the ratio of the
 * medians, min–max unknown.
 */
export function ratio(row: Row, reference: Row, pick: (sample: Sample) => number = (s) => s.rps): Spread {
  if (row.samples.length === reference.samples.length) return spread(row.samples.map((s, i) => pick(s) / pick(reference.samples[i]!)));
  const value = spreadOf(row, pick).median / spreadOf(reference, pick).median;
  return { median: value, min: Number.NaN, max: Number.NaN };
}
