// How the bench prints: one line per row with each figure as median (min–max) over its rounds,
// the share of the limit row, and verdict lines that say met or not met.

import { ratio, spreadOf, type Row, type Spread } from './row.js';
import { startupSummary, type StartupRow } from './startup.js';

const nameWidth = 52;

/** "3210 (3102–3305)"; a single sample prints alone. */
export function formatSpread(s: Spread, digits: number): string {
  if (Number.isNaN(s.median)) return '–';
  const f = (n: number) => n.toFixed(digits);
  return Number.isNaN(s.min) || s.min === s.max ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

const widths = { rps: 17, share: 18, p50: 19, p99: 22, cpu: 17, rss: 7, errors: 7 };

export const tableHeader = [
  'system'.padEnd(nameWidth),
  'msg/s'.padStart(widths.rps),
  'of limit'.padStart(widths.share),
  'p50 ms'.padStart(widths.p50),
  'p99 ms'.padStart(widths.p99),
  'CPU µs/msg'.padStart(widths.cpu),
  'RSS MB'.padStart(widths.rss),
  'errors'.padStart(widths.errors),
].join(' ');

export function tableLine(row: Row, limit: Row | undefined): string {
  const errors = row.samples.reduce((sum, s) => sum + s.errors, 0);
  const rss = spreadOf(row, (s) => s.rssBytes / 2 ** 20).median;
  return [
    row.name.padEnd(nameWidth),
    formatSpread(spreadOf(row, (s) => s.rps), 0).padStart(widths.rps),
    (limit ? formatSpread(ratio(row, limit), 2) : '–').padStart(widths.share),
    formatSpread(spreadOf(row, (s) => s.p50Ms), 1).padStart(widths.p50),
    formatSpread(spreadOf(row, (s) => s.p99Ms), 1).padStart(widths.p99),
    formatSpread(spreadOf(row, (s) => s.cpuMicrosPerMessage), 0).padStart(widths.cpu),
    (Number.isNaN(rss) ? '–' : rss.toFixed(0)).padStart(widths.rss),
    String(errors).padStart(widths.errors),
  ].join(' ');
}

/** "a/c = 1.17 (0.95–1.31), target >= 1.3: not met". */
export function verdict(label: string, value: Spread, target: number): string {
  return `${label} = ${formatSpread(value, 2)}, target >= ${target}: ${value.median >= target ? 'met' : 'not met'}`;
}

export function startupLine(row: StartupRow): string {
  const target = row.targetMs === undefined ? '' : `target < ${row.targetMs} ms: ${startupSummary(row).median < row.targetMs ? 'met' : 'not met'}`;
  return `${row.name.padEnd(nameWidth + 6)} ${formatSpread(startupSummary(row), 0).padStart(20)} ms   ${target}`;
}

/** "+12", "-3.4": a difference with its sign. */
export function signed(value: number, digits: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;
}
