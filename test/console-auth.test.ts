// Who may use the console: the token traded for a session cookie (HttpOnly, SameSite=Strict,
// never the token), reads refused without it (401), actions without the session's CSRF token or
// from another origin refused (403), a wrong token refused (401); localOnly serves 127.0.0.1 only.

import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleAuth, sameSecret } from '../src/console/auth.js';
import { parseConfig, ConfigError } from '../src/runtime/config.js';
import { definitions } from '../src/runtime/registry.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { loginLink, startWithConsole } from './console-helpers.js';

const token = 'a-console-token-of-some-length';
let runtime: Runtime | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

async function start(yaml = `platforms: [{ id: sandbox, type: sandbox }]\nconsole: { token: "${token}" }`) {
  const started = await startWithConsole(yaml);
  runtime = started.runtime;
  return started;
}

async function logIn(url: string, given = token) {
  return fetch(`${url}/console/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url }, body: new URLSearchParams({ token: given }) });
}

describe('console auth', () => {
  it('compares tokens in constant time over their hashes, whatever their lengths', () => {
    expect(sameSecret(token, token)).toBe(true);
    expect(sameSecret('short', token)).toBe(false);
    expect(sameSecret(`${token}x`, token)).toBe(false);
    // Inputs of different lengths compare without throwing: timingSafeEqual sees their equal-length hashes.
    const auth = new ConsoleAuth(token);
    expect(auth.login('wrong')).toBeUndefined();
    const session = auth.login(token)!;
    expect(session.id).not.toContain(token);
    expect(auth.session(session.id)?.csrf).toBe(session.csrf);
  });

  it('a session expires', () => {
    let now = 0;
    const auth = new ConsoleAuth(token, () => now);
    const { id } = auth.login(token)!;
    now += 13 * 60 * 60 * 1000;
    expect(auth.session(id)).toBeUndefined();
  });

  it('sets an HttpOnly, SameSite=Strict session cookie for the right token, 401 for a wrong one', async () => {
    const { url } = await start();
    const wrong = await logIn(url, 'not-the-token-at-all');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(await wrong.text()).toContain('not the console token');
    const right = await logIn(url);
    expect(right.status).toBe(303);
    expect(right.headers.get('location')).toBe('/console');
    const cookie = right.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^switchboard_console=[\w-]{40,};/);
    expect(cookie.toLowerCase()).toContain('httponly');
    expect(cookie.toLowerCase()).toContain('samesite=strict');
    expect(cookie.toLowerCase()).toContain('path=/console');
    expect(cookie).not.toContain(token);
    // Pages carry a CSP that allows no inline script.
    const page = await fetch(`${url}/console`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).not.toMatch(/<script>|<script [^>]*>[^<]/);
  });

  it('refuses reads without a session (401) and actions without the CSRF header or from another origin (403)', async () => {
    const { url } = await start();
    expect((await fetch(`${url}/console/api/events`)).status).toBe(401);
    expect((await fetch(`${url}/console/api/config`, { headers: { cookie: 'switchboard_console=made-up' } })).status).toBe(401);
    const cookie = (await logIn(url)).headers.get('set-cookie')!.split(';')[0]!;
    const session = await fetch(`${url}/console/api/session`, { headers: { cookie } });
    const { csrf } = (await session.json()) as { csrf: string };
    const restart = (headers: Record<string, string>) => fetch(`${url}/console/api/outbox/nothing:0/retry`, { method: 'POST', headers: { cookie, ...headers } });
    expect((await restart({})).status).toBe(403);
    expect((await restart({ 'x-csrf-token': 'guessed' })).status).toBe(403);
    const evil = await restart({ 'x-csrf-token': csrf, origin: 'http://evil.example' });
    expect(evil.status).toBe(403);
    const allowed = await restart({ 'x-csrf-token': csrf, origin: url });
    expect(allowed.status).toBe(404);
    expect(await allowed.json()).toEqual({ error: 'no item nothing:0 in the outbox' });
    // Logging in from another site is refused too.
    const crossSite = await fetch(`${url}/console/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.example' }, body: `token=${token}` });
    expect(crossSite.status).toBe(403);
    // The config it shows has every secret masked: the token is nowhere.
    const config = ((await (await fetch(`${url}/console/api/config`, { headers: { cookie } })).json()) as { check: string }).check;
    expect(config).toContain('token: "********"');
    expect(config).not.toContain(token);
  });

  it('localOnly: a one-time login link in the log, and 404 for other addresses', async () => {
    const { url, lines } = await start('server: { host: 0.0.0.0, port: 0 }\nplatforms: [{ id: sandbox, type: sandbox }]\nconsole: { localOnly: true }');
    const link = loginLink(lines)!;
    expect(link).toBeTruthy();
    const port = new URL(url).port;
    const local = await fetch(link.replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${port}`), { redirect: 'manual' });
    expect(local.status).toBe(303);
    const outside = Object.values((await import('node:os')).networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
    if (outside) expect((await fetch(`http://${outside.address}:${port}/console/login`)).status).toBe(404);
  });

  it('a console without a token or with a short one is refused, naming the key; console: false is off', () => {
    const parse = (text: string) => parseConfig(`platforms: [{ id: sandbox, type: sandbox }]\n${text}`, { definitions, env: {}, source: 'c.yaml', baseDir: '.' });
    expect(() => parse('console: { token: short }')).toThrow(/console\.token \(line 2\): expected a token of at least 16 characters/);
    expect(() => parse('console: {}')).toThrow(ConfigError);
    expect(() => parse('console: {}')).toThrow(/console\.token.*required/);
    expect(parse('console: false').console).toBe(false);
    expect(parse('').console).toBeUndefined();
  });
});

describe('console behind an HTTPS proxy', () => {
  it('marks the session cookie Secure when server.publicUrl is https', async () => {
    const started = await startWithConsole(`server: { port: 0, publicUrl: "https://bot.example.com" }\nplatforms: [{ id: sandbox, type: sandbox }]\nconsole: { token: "${token}" }`);
    try {
      const cookie = (await logIn(started.url)).headers.get('set-cookie')!;
      expect(cookie.toLowerCase()).toContain('; secure');
    } finally {
      await started.runtime.stop();
    }
  });
});
