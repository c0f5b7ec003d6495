// Connections, dead letters, numbers and config: each fetched when its tab is shown.

import { useEffect, useState } from 'preact/hooks';
import { act, ago, get, type Charts, type Connection, type OutboxItem } from './api.js';
import { Chart } from './chart.js';

function usePoll<T>(path: string, everyMs: number): [T | undefined, () => void, string] {
  const [value, setValue] = useState<T | undefined>();
  const [error, setError] = useState('');
  const load = () => get<T>(path).then((v) => (setValue(v), setError('')), (e: Error) => setError(e.message));
  useEffect(() => {
    void load();
    const timer = setInterval(load, everyMs);
    return () => clearInterval(timer);
  }, [path]);
  return [value, load, error];
}

export function Connections() {
  const [list, reload, error] = usePoll<Connection[]>('connections', 1000);
  const [note, setNote] = useState('');
  const restart = (name: string) => act(`connections/${encodeURIComponent(name)}/restart`).then(() => (setNote(`${name}: restarting`), reload()), (e: Error) => setNote(e.message));
  return (
    <section aria-label="Connections">
      {error && <p class="error">{error}</p>}
      {note && <p role="status">{note}</p>}
      {list?.length === 0 && <p class="empty">No platform here holds a connection (webhook platforms have none).</p>}
      <table>
        <thead><tr><th>Connection</th><th>State</th><th>Since</th><th>Last error</th><th /></tr></thead>
        <tbody>
          {list?.map((c) => (
            <tr key={c.name} data-connection={c.name}>
              <td>{c.name}<br /><small>{c.type}</small></td>
              <td class={`state ${c.state}`}>{c.state}</td>
              <td title={new Date(c.since).toISOString()}>{ago(c.since)}</td>
              <td>{c.lastError ?? ''}</td>
              <td><button type="button" onClick={() => restart(c.name)}>Restart</button></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function DeadLetters() {
  const [list, reload, error] = usePoll<OutboxItem[]>('outbox', 3000);
  const [open, setOpen] = useState<string | undefined>();
  const [note, setNote] = useState('');
  const run = (key: string, action: 'retry' | 'drop') =>
    act(`outbox/${encodeURIComponent(key)}/${action}`).then(() => (setNote(`${key}: ${action === 'retry' ? 'queued to send again' : 'dropped'}`), reload()), (e: Error) => setNote(e.message));
  return (
    <section aria-label="Dead letters">
      {error && <p class="error">{error}</p>}
      {note && <p role="status">{note}</p>}
      {list?.length === 0 && <p class="empty">No dead letters.</p>}
      <ul class="letters">
        {list?.map((item) => (
          <li key={item.key} data-item={item.key}>
            <button type="button" class="open" aria-expanded={open === item.key} onClick={() => setOpen(open === item.key ? undefined : item.key)}>
              {item.key} · {item.state === 'retry' ? 'retry queued' : 'dead'} · {item.message.to.botId}/{item.message.to.channelId} · tries: {item.attempts} · {ago(item.updatedAt)}
            </button>
            <p class="error">{item.error ?? ''}</p>
            {open === item.key && <pre>{JSON.stringify(item, null, 2)}</pre>}
            {item.state === 'dead' && (
              <>
                <button type="button" onClick={() => run(item.key, 'retry')}>Retry</button> <button type="button" onClick={() => run(item.key, 'drop')}>Drop</button>
              </>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Numbers() {
  const [charts, , error] = usePoll<Charts>('numbers', 5000);
  if (error) return <p class="error">{error}</p>;
  if (!charts) return <p>Loading…</p>;
  const pct = (v: number | null) => (v === null ? null : v * 100);
  return (
    <section aria-label="Numbers" class="charts">
      <p class="note">The last hour, sampled every {charts.intervalMs / 1000} s from the counters behind /metrics.</p>
      <Chart title="Messages per minute" at={charts.at} series={Object.fromEntries(Object.entries(charts.messagesPerMinute))} unit="/min" />
      {Object.entries(charts.latency).map(([stage, l]) => (
        <Chart key={stage} title={`${stage} callback latency`} at={charts.at} series={{ p50: l.p50.map((v) => (v === null ? null : v * 1000)), p99: l.p99.map((v) => (v === null ? null : v * 1000)) }} unit="ms" />
      ))}
      <Chart title="Error rates" at={charts.at} series={{ messages: charts.errorRate.messages.map(pct), callbacks: charts.errorRate.callbacks.map(pct), deliveries: charts.errorRate.deliveries.map(pct) }} unit="%" />
    </section>
  );
}

export function Config() {
  const [config, , error] = usePoll<{ check: string; buffer: { events: number; eventBytes: number; held: number } }>('config', 60_000);
  if (error) return <p class="error">{error}</p>;
  if (!config) return <p>Loading…</p>;
  return (
    <section aria-label="Config">
      <p class="note">The console keeps the last {config.buffer.events} messages ({config.buffer.held} now), at most {Math.round(config.buffer.eventBytes / 1024)} KB of payloads each.</p>
      <pre class="config">{config.check}</pre>
    </section>
  );
}
