// The console's two HTML pages: no inline script or style (the Content-Security-Policy allows none).

const head = (title: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="same-origin"><title>${title}</title><link rel="stylesheet" href="/console/assets/app.css"></head>`;

export const appPage = `${head('Switchboard console')}<body><div id="app"></div><script type="module" src="/console/assets/app.js"></script></body></html>`;

export function loginPage(error?: string): string {
  const problem = error ? `<p class="error" role="alert">${escape(error)}</p>` : '';
  return `${head('Switchboard console: log in')}<body><main class="login"><h1>Switchboard console</h1>${problem}<form method="post" action="/console/login"><label for="token">Console token</label><input id="token" name="token" type="password" autocomplete="current-password" required autofocus><button type="submit">Log in</button></form></main></body></html>`;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
