// What the Discord and QQ gateway fakes share: QQ's gateway speaks Discord's session protocol.
// HELLO, IDENTIFY -> READY, heartbeats and ACKs, RESUME with replay, and the switches for every
// failure a client must survive (no HELLO, no ACKs, a dropped socket, op 7, op 9). Each
// platform's fake says how it checks a token and what its READY and RESUMED carry.

import { randomUUID } from 'node:crypto';
import type { WebSocket, WebSocketServer } from 'ws';

interface Dispatch {
  op: 0;
  s: number;
  t: string;
  d: unknown;
  id?: string;
}

export interface GatewaySession {
  id: string;
  seq: number;
  /** Every dispatch of the session, for replay on RESUME. */
  events: Dispatch[];
}

interface Connection {
  socket: WebSocket;
  ready: boolean;
  acks: boolean;
  /** The session it identified or resumed. */
  session?: GatewaySession;
}

/** How a fake answers an IDENTIFY it refuses: a close code, or op 9 (invalid session). */
export type IdentifyRefusal = { close: number; reason: string } | 'invalid session';

export abstract class FakeGateway {
  readonly identifies: any[] = [];
  readonly resumes: any[] = [];
  connections = 0;
  heartbeatIntervalMs = 1000;
  /** Connections still to come that get no HELLO at all. */
  skipHello = 0;
  /** Connections still to come that are closed (4000, unknown error) right after HELLO. */
  closeAfterHello = 0;
  /** Close every IDENTIFY with this code (e.g. 4014: intents not permitted). */
  closeOnIdentify: number | undefined;
  private session: GatewaySession | undefined;
  private current: Connection | undefined;
  protected abstract readonly wss: WebSocketServer;

  /** Why this IDENTIFY is refused, or undefined to accept it. */
  protected abstract refuseIdentify(d: any): IdentifyRefusal | undefined;
  /** Whether a RESUME's token is still good. */
  protected abstract tokenAccepted(token: unknown): boolean;
  protected abstract readyData(sessionId: string): unknown;
  /** The RESUMED dispatch that ends a replay. */
  protected abstract resumed(session: GatewaySession): { s: number; d: unknown };
  protected onHeartbeat(_seq: number | null): void {}
  /** Whether a client closing with this code ends its session (Discord: 1000 and 1001), instead of leaving it to be resumed. */
  protected closeEndsSession(_code: number): boolean {
    return false;
  }

  /** Sends an event now, or keeps it for the RESUME replay if no session is connected. */
  protected dispatch(t: string, d: unknown, extra: { id?: string } = {}): number {
    const session = this.session;
    if (!session) throw new Error('no gateway session yet: wait for READY first');
    const frame: Dispatch = { op: 0, s: ++session.seq, t, d, ...extra };
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

  protected accept(socket: WebSocket): void {
    this.connections++;
    const connection: Connection = { socket, ready: false, acks: true };
    this.current = connection;
    socket.on('close', (code) => {
      if (this.current === connection) this.current = undefined;
      if (connection.session && connection.session === this.session && this.closeEndsSession(code)) this.session = undefined;
    });
    socket.on('message', (data) => this.onFrame(connection, JSON.parse(String(data)) as { op: number; d?: any }));
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
        this.onHeartbeat(frame.d ?? null);
        if (connection.acks) socket.send(JSON.stringify({ op: 11 }));
        return;
      case 2: {
        this.identifies.push(frame.d);
        if (this.closeOnIdentify) return void socket.close(this.closeOnIdentify, 'refused');
        const refusal = this.refuseIdentify(frame.d);
        if (refusal === 'invalid session') return void socket.send(JSON.stringify({ op: 9, d: false }));
        if (refusal) return void socket.close(refusal.close, refusal.reason);
        this.session = { id: randomUUID(), seq: 0, events: [] };
        connection.session = this.session;
        connection.ready = true;
        socket.send(JSON.stringify({ op: 0, s: ++this.session.seq, t: 'READY', d: this.readyData(this.session.id) }));
        return;
      }
      case 6: {
        this.resumes.push(frame.d);
        const session = this.session;
        if (!session || frame.d?.session_id !== session.id || !this.tokenAccepted(frame.d?.token)) return void socket.send(JSON.stringify({ op: 9, d: false }));
        connection.ready = true;
        connection.session = session;
        for (const event of session.events) if (event.s > Number(frame.d.seq)) socket.send(JSON.stringify(event));
        socket.send(JSON.stringify({ op: 0, t: 'RESUMED', ...this.resumed(session) }));
        return;
      }
      default:
        socket.close(4001, 'Unknown opcode.');
    }
  }
}
