// The QQ websocket gateway as a test drives it: HELLO, IDENTIFY (token + intents checked),
// READY, heartbeat ACKs, RESUME with replay + RESUMED, and switches for every failure a
// client must survive (no HELLO, no ACKs, a dropped socket, op 7, op 9).

import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

export interface GatewayFrame {
  op: number;
  d?: any;
  s?: number;
  t?: string;
  id?: string;
}

interface Dispatch {
  op: 0;
  s: number;
  t: string;
  d: unknown;
  id: string;
}

interface Session {
  id: string;
  seq: number;
  /** Every dispatch of the session, for replay on RESUME. */
  events: Dispatch[];
}

interface Connection {
  socket: WebSocket;
  ready: boolean;
  acks: boolean;
}

export class FakeQQGateway {
  readonly identifies: any[] = [];
  readonly resumes: any[] = [];
  /** The `d` of every heartbeat received (the client's last seq). */
  readonly heartbeats: (number | null)[] = [];
  connections = 0;
  /** The client-side port of each connection, as this server saw it. */
  readonly peerPorts: number[] = [];
  heartbeatIntervalMs = 150;
  /** Connections still to come that get no HELLO at all. */
  skipHello = 0;
  /** Close every IDENTIFY with this code (e.g. 4014: intents not permitted). */
  closeOnIdentify: number | undefined;
  private session: Session | undefined;
  private current: Connection | undefined;
  private readonly wss: WebSocketServer;

  constructor(
    server: Server,
    private readonly checks: { tokenIsLive(token: string): boolean; botUser: { id: string; username: string } },
  ) {
    this.wss = new WebSocketServer({ server, path: '/websocket' });
    this.wss.on('connection', (socket, req) => {
      this.peerPorts.push(req.socket.remotePort ?? 0);
      this.accept(socket);
    });
  }

  /** Sends an event now, or keeps it for the RESUME replay if no session is connected. */
  push(t: string, d: unknown, id = `${t}:${randomUUID()}`): number {
    const session = this.session;
    if (!session) throw new Error('no gateway session yet: wait for READY first');
    const frame: Dispatch = { op: 0, s: ++session.seq, t, d, id };
    session.events.push(frame);
    if (this.current?.ready) this.current.socket.send(JSON.stringify(frame));
    return frame.s;
  }

  get sessionId(): string | undefined {
    return this.session?.id;
  }

  /** Client sockets open right now. */
  get openSockets(): number {
    return this.wss.clients.size;
  }

  get connected(): boolean {
    return this.current?.ready === true;
  }

  /** Kills the socket without a close frame, as a network failure would. */
  drop(): void {
    this.current?.socket.terminate();
    this.current = undefined;
  }

  /** op 7: the server asks the client to reconnect (and resume). */
  requestReconnect(): void {
    this.current?.socket.send(JSON.stringify({ op: 7 }));
  }

  /** op 9: the session is gone; the client must identify afresh. */
  invalidateSession(): void {
    this.session = undefined;
    this.current?.socket.send(JSON.stringify({ op: 9, d: false }));
  }

  /** The current connection stops answering heartbeats (a zombie, from the client's side). */
  stopAcking(): void {
    if (this.current) this.current.acks = false;
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise((resolve) => this.wss.close(resolve));
  }

  private accept(socket: WebSocket): void {
    this.connections++;
    const connection: Connection = { socket, ready: false, acks: true };
    this.current = connection;
    socket.on('close', () => {
      if (this.current === connection) this.current = undefined;
    });
    socket.on('message', (data) => this.onFrame(connection, JSON.parse(String(data)) as GatewayFrame));
    if (this.skipHello > 0) {
      this.skipHello--;
      return;
    }
    socket.send(JSON.stringify({ op: 10, d: { heartbeat_interval: this.heartbeatIntervalMs } }));
  }

  private onFrame(connection: Connection, frame: GatewayFrame): void {
    const { socket } = connection;
    switch (frame.op) {
      case 1:
        this.heartbeats.push(frame.d ?? null);
        if (connection.acks) socket.send(JSON.stringify({ op: 11 }));
        return;
      case 2: {
        this.identifies.push(frame.d);
        if (this.closeOnIdentify) return void socket.close(this.closeOnIdentify, 'refused');
        const token = String(frame.d?.token ?? '');
        if (!token.startsWith('QQBot ') || !this.checks.tokenIsLive(token.slice(6))) return void socket.send(JSON.stringify({ op: 9, d: false }));
        if (!Number.isInteger(frame.d?.intents) || frame.d.intents <= 0) return void socket.close(4013, 'invalid intent');
        this.session = { id: randomUUID(), seq: 0, events: [] };
        connection.ready = true;
        socket.send(JSON.stringify({ op: 0, s: ++this.session.seq, t: 'READY', d: { version: 1, session_id: this.session.id, user: { ...this.checks.botUser, bot: true }, shard: [0, 1] } }));
        return;
      }
      case 6: {
        this.resumes.push(frame.d);
        const session = this.session;
        const token = String(frame.d?.token ?? '');
        if (!session || frame.d?.session_id !== session.id || !token.startsWith('QQBot ') || !this.checks.tokenIsLive(token.slice(6))) {
          return void socket.send(JSON.stringify({ op: 9, d: false }));
        }
        connection.ready = true;
        for (const event of session.events) if (event.s > Number(frame.d.seq)) socket.send(JSON.stringify(event));
        socket.send(JSON.stringify({ op: 0, s: session.seq, t: 'RESUMED', d: '' }));
        return;
      }
      default:
        socket.close(4001, 'invalid opcode');
    }
  }
}
