// Who may use the console: the operator's token, traded once for a session cookie (HttpOnly,
// SameSite=Strict, a random id: never the token); every action a POST carrying the session's CSRF
// token in a header, from this origin.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { Eviction } from '../runtime/eviction.js';

export const cookieName = 'switchboard_console';
export const csrfHeader = 'x-csrf-token';

interface Session {
  csrf: string;
  expires: number;
}

/** At most this many sessions live at once; the oldest goes first. */
const maxSessions = 64;
const sessionMs = 12 * 60 * 60 * 1000;

/** Constant time over the inputs' hashes: neither the length nor a prefix of the token leaks through timing. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export type Refusal = { status: 401 | 403; error: string };

export class ConsoleAuth {
  private readonly sessions = new Map<string, Session>();
  private readonly eviction = new Eviction(this.sessions);

  constructor(
    private readonly token: string,
    private readonly now: () => number = Date.now,
    /** Served over HTTPS by a proxy in front (server.publicUrl is https): the cookie is Secure though this server speaks plain HTTP. */
    private readonly https = false,
  ) {}

  /** A new session for the right token: its id (for the cookie) and CSRF token; undefined for a wrong one. */
  login(given: string): { id: string; csrf: string } | undefined {
    if (!sameSecret(given, this.token)) return undefined;
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    if (this.sessions.size >= maxSessions) this.sessions.delete(this.eviction.oldest()![0]);
    this.sessions.set(id, { csrf, expires: this.now() + sessionMs });
    return { id, csrf };
  }

  logout(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  /** The session a request's cookie names, if it is alive. */
  session(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (session.expires <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  /** Why a request may not read (401), or may not act (403: no CSRF token, a wrong one, another origin); undefined when it may. */
  refusal(ctx: Context, action: boolean): Refusal | undefined {
    const session = this.session(ctx.cookies.get(cookieName));
    if (!session) return { status: 401, error: 'log in to the console first' };
    if (!action) return undefined;
    if (crossOrigin(ctx)) return { status: 403, error: 'cross-origin request refused' };
    const csrf = ctx.get(csrfHeader);
    if (!csrf || !sameSecret(csrf, session.csrf)) return { status: 403, error: `missing or wrong ${csrfHeader} header` };
    return undefined;
  }

  setCookie(ctx: Context, id: string): void {
    const secure = this.https || ctx.secure;
    // The cookies library refuses a Secure cookie on what it takes for a plain connection: the proxy's TLS counts.
    if (secure) ctx.cookies.secure = true;
    ctx.cookies.set(cookieName, id, { httpOnly: true, sameSite: 'strict', path: '/console', maxAge: sessionMs, secure, overwrite: true });
  }
}

/** A request whose Origin header names another site than this server (Koa's ctx.origin is that header, not ours). */
export function crossOrigin(ctx: Context): boolean {
  const origin = ctx.get('origin');
  return origin !== '' && origin !== `${ctx.protocol}://${ctx.host}`;
}

/** A token for a console no config gave one to: printed once in the log, good for this run. */
export function oneTimeToken(): string {
  return randomBytes(24).toString('base64url');
}
