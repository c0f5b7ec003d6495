// The Discord gateway (v10, JSON, no compression) as a test drives it: HELLO, IDENTIFY (token
// checked), READY with resume_gateway_url, heartbeat ACKs, RESUME with replay + RESUMED, and
// switches for every failure a client must survive (no HELLO, no ACKs, a dropped socket, op 7, op 9).

import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

interface Dispatch {
  op: 0;
  s: number;
  t: string;
  d: unknown;
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

export class FakeDiscordGateway {
  readonly identifies: any[] = [];
  readonly resumes: any[] = [];
  /** The query string of every connection (discord.js adds ?v=10&encoding=json). */
  readonly queries: string[] = [];
  connections = 0;
  /** Long enough that a busy test machine is not taken for a zombie; the zombie test shortens it. */
  heartbeatIntervalMs = 1000;
  /** Connections still to come that get no HELLO at all. */
  skipHello = 0;
  /** Close every IDENTIFY with this code (e.g. 4014: disallowed intents). */
  closeOnIdentify: number | undefined;
  /** Connections still to come that are closed (4000, unknown error) right after HELLO. */
  closeAfterHello = 0;
  /** Where READY tells the client to resume; set by the fake server once it listens. */
  resumeUrl = '';
  private session: Session | undefined;
  private current: Connection | undefined;
  private readonly wss: WebSocketServer;

  constructor(
    server: Server,
    private readonly checks: { token: string; botUser: { id: string; username: string }; applicationId: string },
  ) {
    this.wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'ws://fake');
      if (url.pathname !== '/gateway' && url.pathname !== '/resume') return socket.destroy();
      this.queries.push(url.search);
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    });
  }

  /** Sends an event now, or keeps it for the RESUME replay if no session is connected. */
  push(t: string, d: unknown): number {
    const session = this.session;
    if (!session) throw new Error('no gateway session yet: wait for READY first');
    const frame: Dispatch = { op: 0, s: ++session.seq, t, d };
    session.events.push(frame);
    if (this.current?.ready) this.current.socket.send(JSON.stringify(frame));
    return frame.s;
  }

  get sessionId(): string | undefined {
    return this.session?.id;
  }

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

  /** op 7: the server asks the client to reconnect and resume. */
  requestReconnect(): void {
    this.current?.socket.send(JSON.stringify({ op: 7, d: null }));
  }

  /** op 9 (d: false): the session is gone; the client must identify afresh. */
  invalidateSession(): void {
    this.session = undefined;
    if (this.current) this.current.ready = false;
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
    socket.on('message', (data) => this.onFrame(connection, JSON.parse(String(data))));
    if (this.skipHello > 0) {
      this.skipHello--;
      return;
    }
    socket.send(JSON.stringify({ op: 10, d: { heartbeat_interval: this.heartbeatIntervalMs } }));
    if (this.closeAfterHello > 0) {
      this.closeAfterHello--;
      socket.close(4000, 'Unknown error.');
    }
  }

  private onFrame(connection: Connection, frame: { op: number; d?: any }): void {
    const { socket } = connection;
    switch (frame.op) {
      case 1:
        if (connection.acks) socket.send(JSON.stringify({ op: 11 }));
        return;
      case 2: {
        this.identifies.push(frame.d);
        if (this.closeOnIdentify) return void socket.close(this.closeOnIdentify, 'refused');
        if (frame.d?.token !== this.checks.token) return void socket.close(4004, 'Authentication failed.');
        this.session = { id: randomUUID(), seq: 0, events: [] };
        connection.ready = true;
        const user = { ...this.checks.botUser, discriminator: '0', global_name: null, avatar: null, bot: true };
        const d = { v: 10, user, guilds: [], session_id: this.session.id, resume_gateway_url: this.resumeUrl, application: { id: this.checks.applicationId, flags: 0 }, shard: [0, 1] };
        socket.send(JSON.stringify({ op: 0, s: ++this.session.seq, t: 'READY', d }));
        return;
      }
      case 6: {
        this.resumes.push(frame.d);
        const session = this.session;
        if (!session || frame.d?.session_id !== session.id || frame.d?.token !== this.checks.token) return void socket.send(JSON.stringify({ op: 9, d: false }));
        connection.ready = true;
        for (const event of session.events) if (event.s > Number(frame.d.seq)) socket.send(JSON.stringify(event));
        socket.send(JSON.stringify({ op: 0, s: ++session.seq, t: 'RESUMED', d: {} }));
        return;
      }
      default:
        socket.close(4001, 'Unknown opcode.');
    }
  }
}
