// A small line chart as inline SVG: one line per series, a shared time axis.

const colors = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];
const [w, h, pad] = [600, 140, 28];

export function Chart({ title, at, series, unit }: { title: string; at: number[]; series: Record<string, (number | null)[]>; unit: string }) {
  const values = Object.values(series).flat().filter((v): v is number => v !== null);
  const top = Math.max(1, ...values);
  const x = (i: number) => pad + (at.length > 1 ? (i * (w - 2 * pad)) / (at.length - 1) : 0);
  const y = (v: number) => h - pad - (v / top) * (h - 2 * pad);
  const names = Object.keys(series);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${title}: ${names.map((n) => `${n} latest ${last(series[n]!) ?? 'none'}${unit}`).join(', ')}`}>
        <line x1={pad} y1={h - pad} x2={w - pad} y2={h - pad} class="axis" />
        <text x={2} y={pad} class="tick">{round(top)}{unit}</text>
        <text x={2} y={h - pad} class="tick">0</text>
        {names.map((name, k) => (
          <polyline key={name} fill="none" stroke={colors[k % colors.length]} stroke-width="2" points={series[name]!.map((v, i) => (v === null ? '' : `${x(i)},${y(v)}`)).filter(Boolean).join(' ')} />
        ))}
      </svg>
      <ul class="legend">
        {names.map((name, k) => <li key={name}><span class="swatch" data-color={k % colors.length} />{name}: {last(series[name]!) === undefined ? '—' : `${round(last(series[name]!)!)}${unit}`}</li>)}
      </ul>
      {at.length < 2 && <p class="note">Collecting: the first numbers show after two samples.</p>}
    </figure>
  );
}

function last(values: (number | null)[]): number | undefined {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i]!;
  return undefined;
}

function round(v: number): string {
  return v >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
}
