// The QQ websocket gateway as a test drives it: the shared session protocol of ./gateway.ts,
// with QQ's "QQBot <token>" check, intents required, and every heartbeat's seq recorded.

import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { WebSocketServer } from 'ws';
import { FakeGateway, type GatewaySession, type IdentifyRefusal } from './gateway.js';

export class FakeQQGateway extends FakeGateway {
  /** The `d` of every heartbeat received (the client's last seq). */
  readonly heartbeats: (number | null)[] = [];
  /** The client-side port of each connection, as this server saw it. */
  readonly peerPorts: number[] = [];
  protected readonly wss: WebSocketServer;

  constructor(
    server: Server,
    private readonly checks: { tokenIsLive(token: string): boolean; botUser: { id: string; username: string } },
  ) {
    super();
    this.heartbeatIntervalMs = 150;
    this.wss = new WebSocketServer({ server, path: '/websocket' });
    this.wss.on('connection', (socket, req) => {
      this.peerPorts.push(req.socket.remotePort ?? 0);
      this.accept(socket);
    });
  }

  push(t: string, d: unknown, id = `${t}:${randomUUID()}`): number {
    return this.dispatch(t, d, { id });
  }

  protected override onHeartbeat(seq: number | null): void {
    this.heartbeats.push(seq);
  }

  protected refuseIdentify(d: any): IdentifyRefusal | undefined {
    if (!this.tokenAccepted(d?.token)) return 'invalid session';
    if (!Number.isInteger(d?.intents) || d.intents <= 0) return { close: 4013, reason: 'invalid intent' };
    return undefined;
  }

  protected tokenAccepted(token: unknown): boolean {
    const value = String(token ?? '');
    return value.startsWith('QQBot ') && this.checks.tokenIsLive(value.slice(6));
  }

  protected readyData(sessionId: string, _identify: unknown): unknown {
    return { version: 1, session_id: sessionId, user: { ...this.checks.botUser, bot: true }, shard: [0, 1] };
  }

  protected resumed(session: GatewaySession): { s: number; d: unknown } {
    return { s: session.seq, d: '' };
  }
}
