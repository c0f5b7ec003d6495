import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get, time, type EventSummary } from './api.js';
import { FeedStore } from './feed-store.js';

/** Rows on screen at most: the rest of the (bounded) list is one filter away. */
const maxRows = 200;

export function Feed({ open }: { open: (id: string) => void }) {
  const [, setVersion] = useState(0);
  const store = useMemo(() => new FeedStore(1000, () => setVersion((v) => v + 1)), []);
  const [filter, setFilter] = useState({ platform: '', chat: '', user: '', outcome: '', search: '' });
  const [live, setLive] = useState(false);
  const search = useRef<HTMLInputElement>(null);

  useEffect(() => {
    let source: EventSource | undefined;
    void get<EventSummary[]>('events').then((events) => {
      store.add(events.reverse());
      source = new EventSource('/console/api/feed');
      source.onopen = () => setLive(true);
      source.onerror = () => setLive(false);
      source.onmessage = (e: MessageEvent<string>) => store.add(JSON.parse(e.data) as EventSummary[]);
    });
    const onKey = (e: KeyboardEvent) => {
      if (e.key === '/' && document.activeElement?.tagName !== 'INPUT') {
        e.preventDefault();
        search.current?.focus();
      }
    };
    addEventListener('keydown', onKey);
    return () => {
      source?.close();
      removeEventListener('keydown', onKey);
    };
  }, [store]);

  const all = store.list();
  const platforms = [...new Set(all.map((e) => e.platform))].sort();
  const needle = filter.search.toLowerCase();
  const shown = all.filter(
    (e) =>
      (!filter.platform || e.platform === filter.platform) &&
      (!filter.chat || e.chat.includes(filter.chat)) &&
      (!filter.user || e.user.toLowerCase().includes(filter.user.toLowerCase())) &&
      (!filter.outcome || outcomeOf(e) === filter.outcome || e.stages.some((s) => s.outcome === filter.outcome)) &&
      (!needle || e.text.toLowerCase().includes(needle) || e.id.includes(needle)),
  );
  const set = (key: keyof typeof filter) => (e: Event) => setFilter({ ...filter, [key]: (e.target as HTMLInputElement).value });

  return (
    <section aria-label="Live feed">
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <select aria-label="Platform" value={filter.platform} onChange={set('platform')}>
          <option value="">all platforms</option>
          {platforms.map((p) => <option key={p} value={p}>{p}</option>)}
        </select>
        <input aria-label="Chat" placeholder="chat" value={filter.chat} onInput={set('chat')} />
        <input aria-label="User" placeholder="user" value={filter.user} onInput={set('user')} />
        <select aria-label="Outcome" value={filter.outcome} onChange={set('outcome')}>
          <option value="">any outcome</option>
          {['answered', 'rejected', 'limited', 'handler failed', 'delivery failed', 'failed', 'in progress', 'patched', 'added content', 'stopped', 'failed by policy'].map((o) => <option key={o} value={o}>{o}</option>)}
        </select>
        <input ref={search} type="search" aria-label="Search" placeholder="search ( / )" value={filter.search} onInput={set('search')} />
        <button type="button" aria-pressed={store.isPaused} onClick={() => store.setPaused(!store.isPaused)}>
          {store.isPaused ? `Resume (${store.waiting} waiting)` : 'Pause'}
        </button>
        <span class={live ? 'live on' : 'live'}>{live ? 'live' : 'connecting…'}</span>
      </form>
      <ol class="feed">
        {shown.slice(0, maxRows).map((e) => <Row key={e.id} event={e} open={open} />)}
      </ol>
      {shown.length > maxRows && <p class="more">{shown.length - maxRows} older messages match; narrow the filter to see them.</p>}
      {shown.length === 0 && <p class="empty">No messages yet. Send one to the bot.</p>}
    </section>
  );
}

export function outcomeOf(e: EventSummary): string {
  return e.outcome ?? 'in progress';
}

function Row({ event: e, open }: { event: EventSummary; open: (id: string) => void }) {
  return (
    <li class="row" data-event={e.id}>
      <button type="button" class="open" onClick={() => open(e.id)} aria-label={`Open message ${e.id}`}>
        <span class="when">{time(e.at)}</span>
        <span class="where">{e.platform} · {e.chat}</span>
        <span class="who">{e.user}</span>
        <span class="text">{e.text || '(no text)'}</span>
      </button>
      <Strip event={e} />
    </li>
  );
}

export function Strip({ event: e }: { event: EventSummary }) {
  return (
    <ul class="strip" aria-label="Stages">
      {e.stages.map((s, i) => (
        <li key={i} class={`chip ${cls(s.outcome)}`} title={s.error ?? ''}>
          {s.stage} {s.status ?? '—'} {s.ms}ms <b>{s.outcome}</b>
        </li>
      ))}
      {e.handler && <li class={`chip ${e.handler.outcome === 'ok' ? 'ok' : 'bad'}`} title={e.handler.error ?? ''}>handler {e.handler.ms}ms <b>{e.handler.outcome}</b></li>}
      {e.deliveries.map((d) => (
        <li key={d.key} class={`chip ${d.ok ? 'ok' : 'bad'}`} title={d.error ?? ''}>
          {d.edits === undefined ? 'delivery' : 'streamed'} <b>{d.ok ? 'ok' : 'failed'}</b> {d.ok ? d.ids.join(', ') : d.error}
          {d.edits !== undefined && ` · ${d.edits} edits`}
        </li>
      ))}
      <li class={`chip outcome ${cls(outcomeOf(e))}`}>{outcomeOf(e)}{e.ms !== undefined ? ` ${e.ms}ms` : ''}</li>
    </ul>
  );
}

export function cls(outcome: string): string {
  if (outcome === 'stopped' || outcome === 'rejected' || outcome === 'limited') return 'stop';
  if (outcome.includes('fail') || outcome === 'threw') return 'bad';
  if (outcome === 'in progress') return 'wait';
  return 'ok';
}
