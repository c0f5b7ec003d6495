// The Discord gateway (v10, JSON, no compression) as a test drives it: the shared session
// protocol of ./gateway.ts, with Discord's token check, READY (with resume_gateway_url),
// connections taken on /gateway and /resume, and a client's close with 1000 or 1001 ending its
// session (any other code leaves it to be resumed).

import type { Server } from 'node:http';
import { WebSocketServer } from 'ws';
import { FakeGateway, type GatewaySession, type IdentifyRefusal } from './gateway.js';

export class FakeDiscordGateway extends FakeGateway {
  /** The query string of every connection (discord.js adds ?v=10&encoding=json). */
  readonly queries: string[] = [];
  /** Where READY tells the client to resume; set by the fake server once it listens. */
  resumeUrl = '';
  protected readonly wss = new WebSocketServer({ noServer: true });

  constructor(
    server: Server,
    private readonly checks: { token: string; botUser: { id: string; username: string }; applicationId: string },
  ) {
    super();
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'ws://fake');
      if (url.pathname !== '/gateway' && url.pathname !== '/resume') return socket.destroy();
      this.queries.push(url.search);
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    });
  }

  push(t: string, d: unknown): number {
    return this.dispatch(t, d);
  }

  protected refuseIdentify(d: any): IdentifyRefusal | undefined {
    return d?.token === this.checks.token ? undefined : { close: 4004, reason: 'Authentication failed.' };
  }

  protected tokenAccepted(token: unknown): boolean {
    return token === this.checks.token;
  }

  protected override closeEndsSession(code: number): boolean {
    return code === 1000 || code === 1001;
  }

  protected readyData(sessionId: string): unknown {
    const user = { ...this.checks.botUser, discriminator: '0', global_name: null, avatar: null, bot: true };
    return { v: 10, user, guilds: [], session_id: sessionId, resume_gateway_url: this.resumeUrl, application: { id: this.checks.applicationId, flags: 0 }, shard: [0, 1] };
  }

  protected resumed(session: GatewaySession): { s: number; d: unknown } {
    return { s: ++session.seq, d: {} };
  }
}
