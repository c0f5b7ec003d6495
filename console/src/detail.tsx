import { useEffect, useState } from 'preact/hooks';
import { get, time, type Body, type EventRecord, type StageEntry } from './api.js';
import { diffLines } from './diff.js';
import { Strip } from './feed.js';

const parts: Record<string, string> = { onMessage: 'message', onPreSend: 'request', onResult: 'result' };

export function Detail({ id, back }: { id: string; back: () => void }) {
  const [record, setRecord] = useState<EventRecord | undefined>();
  const [error, setError] = useState('');
  useEffect(() => {
    get<EventRecord>(`events/${encodeURIComponent(id)}`).then(setRecord, (e: Error) => setError(e.message));
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && back();
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [id]);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!record) return <p>Loading…</p>;
  return (
    <article class="detail" aria-label={`Message ${record.id}`}>
      <button type="button" onClick={back}>← Back to the feed (Esc)</button>
      <h2>{record.platform} · {record.chat} · {record.user} <small>{time(record.at)} · {record.id}</small></h2>
      <p class="text">{record.text}</p>
      <Strip event={record} />
      <details><summary>The message as received</summary><Pre body={record.message} json /></details>
      {record.stages.map((s, i) => <Stage key={i} stage={s} />)}
      {record.handler && <p>Handler: {record.handler.ms} ms, {record.handler.outcome}{record.handler.error ? `: ${record.handler.error}` : ''}</p>}
      {record.deliveries.map((d) => (
        <section key={d.key} class="block">
          <h3>Delivery {d.key}: {d.ok ? 'ok' : 'failed'} <small>{d.ms} ms</small></h3>
          <p>{d.ok ? `Platform message ids: ${d.ids.join(', ') || '(none)'}` : `Error: ${d.error}`}</p>
          <h4>Reply as rendered for the platform</h4>
          <Pre body={d.message} json />
        </section>
      ))}
      <section class="block">
        <h3>Log lines</h3>
        {record.logs.length === 0 ? <p>None.</p> : <pre class="logs">{record.logs.join('\n')}</pre>}
      </section>
    </article>
  );
}

function Stage({ stage: s }: { stage: StageEntry }) {
  const part = parts[s.stage];
  let before: string | undefined;
  let after = '';
  if (part && s.data && s.request) {
    try {
      before = JSON.stringify((JSON.parse(s.request.body.text) as Record<string, unknown>)[part], null, 2);
      after = JSON.stringify(JSON.parse(s.data.text), null, 2);
    } catch {
      before = undefined; // cut short: no diff
    }
  }
  return (
    <section class={`block stage ${s.outcome.replace(/ /g, '-')}`} data-stage={s.stage}>
      <h3>{s.stage}: {s.status ?? 'no answer'} · {s.ms} ms · <b>{s.outcome}</b></h3>
      <p class="url">{s.url}</p>
      {s.error && <p class="error">{s.error}</p>}
      {s.request && (
        <>
          <h4>Request</h4>
          <Headers headers={s.request.headers} />
          <Pre body={s.request.body} json />
        </>
      )}
      {s.response && (
        <>
          <h4>Reply {s.status}</h4>
          <Headers headers={s.response.headers} />
          {s.response.body.base64 ? <img class="reply-image" alt="Image the callback replied with" src={`data:${s.response.contentType};base64,${s.response.body.text}`} /> : <Pre body={s.response.body} json class="reply-body" />}
        </>
      )}
      {s.data && (
        <>
          <h4>{part ?? 'Data'} after the merge</h4>
          {before !== undefined ? (
            <pre class="diff">{diffLines(before, after).map((l, i) => <span key={i} class={l.kind === '+' ? 'add' : l.kind === '-' ? 'del' : ''}>{`${l.kind} ${l.text}\n`}</span>)}</pre>
          ) : (
            <Pre body={s.data} json />
          )}
        </>
      )}
    </section>
  );
}

function Headers({ headers }: { headers: Record<string, string> }) {
  return <pre class="headers">{Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\n')}</pre>;
}

function Pre({ body, json, class: className }: { body: Body; json?: boolean; class?: string }) {
  let text = body.text;
  if (json && !body.truncated) {
    try {
      text = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // not JSON: shown as it came
    }
  }
  return (
    <>
      <pre class={className}>{text}</pre>
      {body.truncated && <p class="note">Cut at {text.length} of {body.truncated} bytes.</p>}
    </>
  );
}
