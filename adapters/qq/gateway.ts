// One websocket gateway session (HELLO -> IDENTIFY or RESUME -> READY/RESUMED -> events, with
// heartbeats), run by the core supervisor, which owns retrying, backoff and single flight.
//
// The session is kept in the store (src/inbound/resume-point.ts) with the seq of the last event
// acknowledged, as QQ recommends ("record s once an event is handled; RESUME replays what came
// after it"): a restart, after a crash too, resumes it and QQ replays what the last process had not
// finished, instead of a new session losing it. Events are taken replayable
// (src/pipeline/replayable.ts): acknowledged once handled or recorded. Heartbeats carry the last
// seq received, which is what QQ asks of them.

import { WebSocket } from '../../src/net/ws.js';
import type { Logger } from '../../src/runtime/logger.js';
import { backoffDelay, defaultBackoff, FatalConnectionError, RetryAfterError, type SessionControls } from '../../src/inbound/supervisor.js';
import { refreshOnlyPolicy, retry } from '../../src/delivery/retry.js';
import { QqApiError, type OpenApi } from './api.js';
import type { Payload } from './normalize.js';
import { TokenError, type AccessTokens } from './token.js';
import type { Transport } from '../../src/net/proxy.js';
import type { KeptResumePoint } from '../../src/inbound/resume-point.js';

const op = { dispatch: 0, heartbeat: 1, identify: 2, resume: 6, reconnect: 7, invalidSession: 9, hello: 10, heartbeatAck: 11 } as const;

/** Close codes after which connecting again cannot help (QQ's websocket error table). */
const fatalCloseCodes: Record<number, string> = {
  4001: 'invalid opcode',
  4002: 'invalid payload',
  4010: 'invalid shard',
  4011: 'too many guilds for one connection',
  4012: 'invalid gateway version',
  4013: 'invalid intents',
  4014: 'intents not permitted for this bot: remove the ones it has no permission for from `intents`',
  4914: 'the bot is offline (unpublished) and may only connect to the sandbox: set sandbox: true',
  4915: 'the bot is banned',
};

/** Close codes after which the session cannot be resumed, only identified afresh. */
function sessionLost(code: number): boolean {
  return code === 4006 || code === 4007 || (code >= 4900 && code <= 4913);
}

export interface GatewayOptions {
  api: OpenApi;
  tokens: AccessTokens;
  intents: number;
  transport: Transport;
  logger: Logger;
  /** How long to wait for HELLO after starting to connect. */
  helloTimeoutMs: number;
  /**
   * Hands one event on; resolves once it is acknowledged (handled or recorded). `false`: not taken
   * (shutting down, or the store failing). `replayed`: it came in a resumed session's replay, so an
   * earlier process may have handled it.
   */
  onEvent(payload: Payload, replayed: boolean): Promise<boolean>;
  /** The bot's user: from READY, or from the kept session that a restart resumed (no READY then). */
  onReady(user: BotUser): void;
  /** Where the session is kept between runs; `null`: none to resume. */
  kept: KeptResumePoint<KeptSession | null>;
}

interface BotUser {
  id: string;
  username?: string;
}

export interface KeptSession {
  sessionId: string;
  /** The seq of the last event acknowledged: a RESUME replays what came after it. */
  seq: number | null;
  user?: BotUser;
}

interface GatewayBot {
  url?: string;
  session_start_limit?: { remaining?: number; reset_after?: number };
}

export class Gateway {
  private sessionId: string | undefined;
  /** The `s` of the last event acknowledged: what RESUME replays after, and what is kept. */
  private seq: number | null = null;
  /** The `s` of the last frame received: what heartbeats carry. */
  private received: number | null = null;
  private user: BotUser | undefined;
  private url: string | undefined;
  /**
   * Each event is handed on as it arrives; the seq follows their admissions in groups, one group
   * after another, in the order the gateway sent them: those that arrive while a group's
   * admissions settle form the next one. Handed on at once, not kept until the group before is
   * settled: under a firehose the events kept so outlived young collections, and most of every
   * event's objects went to the old generation (bench/README.md, "Gateway fan-in").
   */
  private queue: Promise<unknown> = Promise.resolve();
  /** The group still taking events: their admissions and their `s`. */
  private gathering: { admissions: Promise<boolean>[]; seqs: (number | undefined)[] } | undefined;
  /** An event of this connection was not recorded: the later ones are left for the resume to replay, in order. */
  private held = false;
  /** Connections in a row that ended on an event not recorded: the wait before resuming grows with them. */
  private refusals = 0;

  constructor(private readonly options: GatewayOptions) {}

  /** Forgets the session, here and in the store: the next connection identifies afresh. */
  reset(): void {
    this.sessionId = undefined;
    this.seq = this.received = null;
    this.options.kept.save(() => null);
  }

  /** Waits until what was acknowledged is kept: a clean stop leaves the next start nothing to replay twice. */
  flush(): Promise<void> {
    return this.options.kept.flush();
  }

  async run(controls: SessionControls): Promise<void> {
    await this.queue; // a resume must carry the seq of every event already taken
    this.held = false;
    await this.restore(controls);
    const token = await this.token();
    const resuming = this.sessionId !== undefined;
    const url = resuming && this.url ? this.url : await this.gatewayUrl(controls.signal);
    if (controls.signal.aborted) return;
    await this.connect(url, token, resuming, controls);
  }

  /** Takes up what is kept (another process or instance may have moved it on); the store unreadable: what this process knows. */
  private async restore(controls: SessionControls): Promise<void> {
    const { kept } = this.options;
    await kept.flush();
    const session = await kept.load(controls.fence);
    if (session === undefined) return;
    if (session === null) {
      this.sessionId = undefined;
      this.seq = this.received = null;
      return;
    }
    this.sessionId = session.sessionId;
    this.seq = this.received = session.seq;
    if (session.user) {
      this.user = session.user;
      this.options.onReady(session.user);
    }
  }

  private keep(): void {
    const { sessionId, seq, user } = this;
    if (sessionId === undefined) return;
    this.options.kept.save(() => ({ sessionId, seq, ...(user ? { user } : {}) }));
  }

  private async token(): Promise<string> {
    try {
      return await this.options.tokens.get();
    } catch (error) {
      if (error instanceof TokenError && error.rejected) throw new FatalConnectionError(error.message);
      throw error;
    }
  }

  private async gatewayUrl(signal: AbortSignal): Promise<string> {
    let info: GatewayBot;
    try {
      // A refused token is fetched afresh once (an early expiry); other failures are the supervisor's to back off from.
      info = await retry(() => this.options.api.call<GatewayBot>('GET', '/gateway/bot', undefined, { signal }), { policy: refreshOnlyPolicy, signal });
    } catch (error) {
      if (error instanceof QqApiError && error.failure.kind === 'auth') throw new FatalConnectionError(`${error.message}; check appId and appSecret`);
      throw error;
    }
    if (typeof info.url !== 'string' || !/^wss?:\/\//.test(info.url)) throw new Error('GET /gateway/bot returned no websocket url');
    const limit = info.session_start_limit;
    if (limit?.remaining === 0) throw new RetryAfterError('no session starts left today (session_start_limit)', Math.max(1000, limit.reset_after ?? 60_000));
    this.url = info.url;
    return info.url;
  }

  private connect(url: string, token: string, resuming: boolean, { signal, alive }: SessionControls): Promise<void> {
    const { logger, helloTimeoutMs, intents } = this.options;
    const ws = new WebSocket(url, { agent: this.options.transport.wsAgent(url), handshakeTimeout: helloTimeoutMs, perMessageDeflate: false });
    return new Promise<void>((resolve, reject) => {
      let heartbeat: NodeJS.Timeout | undefined;
      let acked = true;
      let ready = false;
      /** A resumed session replays first, until RESUMED: what comes before may have been handled before. */
      let replaying = resuming;
      let settled = false;
      const helloTimer = setTimeout(() => finish(new Error(`no HELLO within ${helloTimeoutMs} ms`)), helloTimeoutMs);

      const send = (payload: object) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(payload));
      };
      const beat = () => send({ op: op.heartbeat, d: this.received });

      /** Ends the session: resolve for a planned reconnect, reject for a failure. The socket is gone either way. */
      const finish = (error?: Error, close: 'terminate' | number = 'terminate') => {
        if (settled) return;
        settled = true;
        clearTimeout(helloTimer);
        clearInterval(heartbeat);
        signal.removeEventListener('abort', onAbort);
        ws.removeAllListeners('message');
        ws.removeAllListeners('close');
        ws.on('error', () => {}); // a late socket error has no one left to tell
        if (close === 'terminate' || ws.readyState !== WebSocket.OPEN) ws.terminate();
        else ws.close(close);
        if (error) reject(error);
        else resolve();
      };
      const onAbort = () => finish();
      signal.addEventListener('abort', onAbort, { once: true });
      // Another instance was given the connection: the session is its successor's now.
      this.options.kept.onRefused((error) => finish(error));

      const onPayload = (payload: Payload) => {
        switch (payload.op) {
          case op.hello: {
            clearTimeout(helloTimer);
            const interval = Number((payload.d as { heartbeat_interval?: unknown } | undefined)?.heartbeat_interval);
            if (!(interval > 0)) return finish(new Error('HELLO without a heartbeat_interval'));
            const auth = `QQBot ${token}`;
            if (resuming) send({ op: op.resume, d: { token: auth, session_id: this.sessionId, seq: this.seq ?? 0 } });
            else send({ op: op.identify, d: { token: auth, intents, shard: [0, 1], properties: { $os: process.platform, $browser: 'switchboard', $device: 'switchboard' } } });
            clearInterval(heartbeat); // a repeated HELLO must not leave a second timer behind
            heartbeat = setInterval(() => {
              // No ACK for the previous heartbeat: the connection is a zombie; drop it and resume.
              if (!acked) return finish(new Error(`zombie connection: no heartbeat ACK within ${interval} ms`));
              acked = false;
              beat();
            }, interval);
            return;
          }
          case op.heartbeatAck:
            acked = true;
            if (ready) alive();
            return;
          case op.heartbeat:
            return beat();
          case op.reconnect:
            logger.info('gateway asked us to reconnect (op 7); resuming');
            return finish(undefined, 4000);
          case op.invalidSession:
            this.reset();
            // An answer to our IDENTIFY: back off, and do not offer the same token again. Otherwise
            // (a failed RESUME, or a session ended by the server) identify afresh at once.
            if (!resuming && !ready) {
              this.options.tokens.invalidate(token);
              return finish(new Error('gateway refused IDENTIFY (op 9 INVALID_SESSION)'));
            }
            logger.info('session no longer valid (op 9); identifying afresh');
            return finish(undefined, 4000);
          case op.dispatch:
            if (payload.t === 'RESUMED') replaying = false;
            return this.onDispatch(
              payload,
              replaying,
              () => {
                ready = true;
                alive();
              },
              // QQ replays on RESUME what came after the seq we carry: the event is sent again, not lost.
              () => finish(new RetryAfterError('a gateway event could not be recorded (is the store failing?); resuming the session to have it sent again', backoffDelay(this.refusals++, defaultBackoff))),
            );
          default:
            return;
        }
      };

      ws.on('message', (data) => {
        let payload: Payload;
        try {
          payload = JSON.parse(String(data)) as Payload;
        } catch {
          return finish(new Error('gateway sent a frame that is not JSON'));
        }
        if (typeof payload !== 'object' || payload === null || typeof payload.op !== 'number') return;
        onPayload(payload);
      });
      ws.on('close', (code, reason) => finish(closeError(code, String(reason), () => this.reset())));
      ws.on('error', (error) => finish(error));
    });
  }

  private onDispatch(payload: Payload, replayed: boolean, isAlive: () => void, refused: () => void): void {
    const s = typeof payload.s === 'number' ? payload.s : undefined;
    if (s !== undefined) this.received = s;
    if (payload.t === 'READY') {
      const d = (payload.d ?? {}) as { session_id?: string; user?: { id?: string; username?: string } };
      this.sessionId = d.session_id;
      this.seq = s ?? null;
      this.user = d.user?.id ? { id: String(d.user.id), ...(d.user.username === undefined ? {} : { username: d.user.username }) } : undefined;
      if (this.user) this.options.onReady(this.user);
      this.keep();
      this.options.logger.info({ username: d.user?.username }, 'gateway ready');
      return isAlive();
    }
    if (payload.t === 'RESUMED') {
      isAlive();
      this.options.logger.info({ seq: this.seq }, 'gateway session resumed');
      return;
    }
    // After an event that was not recorded, the later ones are left for the resume to replay.
    if (this.held) return;
    const admission = this.options.onEvent(payload, replayed).catch(() => false);
    // Once per group, not per event: a burst is one sign of life (the watchdog counts seconds).
    if (this.gathering) {
      this.gathering.admissions.push(admission);
      this.gathering.seqs.push(s);
      return;
    }
    isAlive();
    const group = (this.gathering = { admissions: [admission], seqs: [s] });
    this.queue = this.queue.then(async () => {
      if (this.gathering === group) this.gathering = undefined;
      const admitted = await Promise.all(group.admissions);
      if (this.held) return;
      const before = this.seq;
      for (let i = 0; i < admitted.length; i++) {
        // The seq moves on only over events acknowledged, so a resume replays from the first that was not.
        if (!admitted[i]) {
          this.held = true;
          if (this.seq !== before) this.keep();
          return refused();
        }
        const seq = group.seqs[i];
        if (seq !== undefined) this.seq = seq;
      }
      if (this.seq !== before) this.keep();
      this.refusals = 0;
    });
  }
}

function closeError(code: number, reason: string, forgetSession: () => void): Error {
  const fatal = fatalCloseCodes[code];
  if (fatal) return new FatalConnectionError(`gateway closed the connection: ${fatal} (${code})`);
  if (sessionLost(code)) forgetSession();
  return new Error(`gateway closed the connection (${code}${reason ? `: ${reason}` : ''})`);
}
