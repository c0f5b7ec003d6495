// The operator console's page: a tab per view, the hash says which (#feed, #event/<id>, …).

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { act } from './api.js';
import { Detail } from './detail.js';
import { Feed } from './feed.js';
import { Config, Connections, DeadLetters, Numbers } from './panels.js';

const tabs = [
  ['feed', 'Feed'],
  ['connections', 'Connections'],
  ['outbox', 'Dead letters'],
  ['numbers', 'Numbers'],
  ['config', 'Config'],
] as const;

function route(): string {
  return location.hash.slice(1) || 'feed';
}

function App() {
  const [at, setAt] = useState(route());
  useEffect(() => {
    const onHash = () => setAt(route());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const go = (to: string) => (location.hash = to);
  const event = at.startsWith('event/') ? decodeURIComponent(at.slice(6)) : undefined;
  const tab = event ? 'feed' : at;
  return (
    <>
      <header>
        <h1>Switchboard</h1>
        <nav aria-label="Views">
          {tabs.map(([id, label]) => (
            <a key={id} href={`#${id}`} aria-current={tab === id ? 'page' : undefined}>{label}</a>
          ))}
        </nav>
        <button type="button" class="logout" onClick={() => act('../logout').finally(() => location.assign('/console/login'))}>Log out</button>
      </header>
      <main>
        {/* The feed stays mounted under a message's detail: its live list and filters survive a look at one message. */}
        <div hidden={tab !== 'feed' || event !== undefined}><Feed open={(id) => go(`event/${encodeURIComponent(id)}`)} /></div>
        {event !== undefined && <Detail id={event} back={() => history.length > 1 ? history.back() : go('feed')} />}
        {tab === 'connections' && <Connections />}
        {tab === 'outbox' && <DeadLetters />}
        {tab === 'numbers' && <Numbers />}
        {tab === 'config' && <Config />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
