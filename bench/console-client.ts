// The console row's client: logs in and reads the live feed for the whole run, as an open
// browser tab would (here in the bench's process, not the system's: a browser is not in it).

export const consoleToken = 'bench-console-token-0123456789';

/** Subscribed once this resolves; call the result to unsubscribe. Counts what it read, to be sure it read. */
export async function watchConsole(url: string, token: string): Promise<() => void> {
  const login = await fetch(`${url}/console/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token}` });
  const cookie = login.headers.get('set-cookie')?.split(';')[0];
  if (login.status !== 303 || !cookie) throw new Error(`console login answered ${login.status}`);
  const abort = new AbortController();
  const feed = await fetch(`${url}/console/api/feed`, { headers: { cookie }, signal: abort.signal });
  if (feed.status !== 200) throw new Error(`console feed answered ${feed.status}`);
  const reader = feed.body!.getReader();
  let bytes = 0;
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) break;
      bytes += value?.byteLength ?? 0;
    }
  })();
  return () => {
    abort.abort();
    if (bytes < 100) console.error(`  the console feed sent only ${bytes} bytes: was it subscribed?`);
  };
}
