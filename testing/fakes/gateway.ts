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
  /** The shard it was identified for (0 without sharding). */
  shard: number;
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

/** One shard's session and the connection on it now. */
interface Shard {
  session?: GatewaySession;
  current?: Connection;
}

/** How a fake answers an IDENTIFY it refuses: a close code, or op 9 (invalid session). */
export type IdentifyRefusal = { close: number; reason: string } | 'invalid session';

export abstract class FakeGateway {
  readonly identifies: any[] = [];
  /** When each IDENTIFY came, for which shard (0 when it names none), and whether it was refused. */
  readonly identified: { shard: number; at: number; refused: boolean }[] = [];
  readonly resumes: any[] = [];
  /** When each RESUME that was taken came, and for which shard. */
  readonly resumedAt: { shard: number; at: number }[] = [];
  /** A shard's session taken up (IDENTIFY or RESUME) while another connection was live on it: the bot held it twice. */
  readonly overlaps: { shard: number; at: number }[] = [];
  connections = 0;
  heartbeatIntervalMs = 1000;
  /** Connections still to come that get no HELLO at all. */
  skipHello = 0;
  /** Connections still to come that are closed (4000, unknown error) right after HELLO. */
  closeAfterHello = 0;
  /** Close every IDENTIFY with this code (e.g. 4014: intents not permitted). */
  closeOnIdentify: number | undefined;
  private readonly shardStates = new Map<number, Shard>();
  protected abstract readonly wss: WebSocketServer;

  /** Why this IDENTIFY is refused, or undefined to accept it. */
  protected abstract refuseIdentify(d: any): IdentifyRefusal | undefined;
  /** Whether a RESUME's token is still good. */
  protected abstract tokenAccepted(token: unknown): boolean;
  protected abstract readyData(sessionId: string, identify: any): unknown;
  /** The RESUMED dispatch that ends a replay. */
  protected abstract resumed(session: GatewaySession): { s: number; d: unknown };
  protected onHeartbeat(_seq: number | null): void {}
  /** Whether a client closing with this code ends its session (Discord: 1000 and 1001), instead of leaving it to be resumed. */
  protected closeEndsSession(_code: number): boolean {
    return false;
  }

  /** The shard an IDENTIFY asks for: `shard: [id, count]`, or 0. */
  protected shardOf(identify: any): number {
    return Array.isArray(identify?.shard) ? Number(identify.shard[0]) : 0;
  }

  private shard(id: number): Shard {
    let shard = this.shardStates.get(id);
    if (!shard) this.shardStates.set(id, (shard = {}));
    return shard;
  }

  /** Sends an event on a shard now, or keeps it for the RESUME replay if no connection is on its session. */
  protected dispatch(t: string, d: unknown, extra: { id?: string } = {}, shardId = 0): number {
    const shard = this.shardStates.get(shardId);
    const session = shard?.session;
    if (!session) throw new Error(`no gateway session on shard ${shardId} yet: wait for READY first`);
    const frame: Dispatch = { op: 0, s: ++session.seq, t, d, ...extra };
    session.events.push(frame);
    if (shard.current?.ready) shard.current.socket.send(JSON.stringify(frame));
    return frame.s;
  }

  /**
   * Sends dispatches whose `d` is already JSON text, back to back, as a busy gateway does: a
   * benchmark's load, with next to no cost of the fake's own. They are not kept for a RESUME replay.
   */
  firehose(t: string, payloads: readonly string[], shardId = 0): void {
    const shard = this.shardStates.get(shardId);
    const session = shard?.session;
    if (!session || !shard.current?.ready) throw new Error(`no connection on shard ${shardId}: wait for READY first`);
    const { socket } = shard.current;
    const head = `,"t":${JSON.stringify(t)},"d":`;
    for (const d of payloads) socket.send(`{"op":0,"s":${++session.seq}${head}${d}}`);
  }

  /** Shard 0's session (the only one without sharding). */
  get sessionId(): string | undefined {
    return this.sessionOf(0);
  }

  sessionOf(shard: number): string | undefined {
    return this.shardStates.get(shard)?.session?.id;
  }

  /** Client sockets open right now. */
  get openSockets(): number {
    return this.wss.clients.size;
  }

  get connected(): boolean {
    return this.isConnected(0);
  }

  isConnected(shard: number): boolean {
    return this.shardStates.get(shard)?.current?.ready === true;
  }

  /** Kills a shard's socket without a close frame, as a network failure would. */
  drop(shardId = 0): void {
    const shard = this.shardStates.get(shardId);
    shard?.current?.socket.terminate();
    if (shard) shard.current = undefined;
  }

  /** op 7: the server asks the client to reconnect and resume. */
  requestReconnect(shard = 0): void {
    this.shardStates.get(shard)?.current?.socket.send(JSON.stringify({ op: 7, d: null }));
  }

  /** op 9 (d: false): the shard's session is gone; the client must identify afresh. */
  invalidateSession(shardId = 0): void {
    const shard = this.shard(shardId);
    shard.session = undefined;
    if (shard.current) shard.current.ready = false;
    shard.current?.socket.send(JSON.stringify({ op: 9, d: false }));
  }

  /** A shard's connection stops answering heartbeats (a zombie, from the client's side). */
  stopAcking(shard = 0): void {
    const current = this.shardStates.get(shard)?.current;
    if (current) current.acks = false;
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise((resolve) => this.wss.close(resolve));
  }

  protected accept(socket: WebSocket): void {
    this.connections++;
    const connection: Connection = { socket, ready: false, acks: true };
    socket.on('close', (code) => {
      const session = connection.session;
      const shard = session && this.shardStates.get(session.shard);
      if (!shard) return;
      if (shard.current === connection) shard.current = undefined;
      if (session === shard.session && this.closeEndsSession(code)) shard.session = undefined;
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

  /** The connection now on a shard's session; another one still live there means the shard is held twice. */
  private takeUp(connection: Connection, session: GatewaySession): void {
    const shard = this.shard(session.shard);
    const other = shard.current;
    if (other && other !== connection && other.socket.readyState === other.socket.OPEN) this.overlaps.push({ shard: session.shard, at: Date.now() });
    shard.current = connection;
    connection.session = session;
    connection.ready = true;
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
        const shardId = this.shardOf(frame.d);
        const refusal = this.closeOnIdentify ? { close: this.closeOnIdentify, reason: 'refused' } : this.refuseIdentify(frame.d);
        this.identified.push({ shard: shardId, at: Date.now(), refused: refusal !== undefined });
        if (refusal === 'invalid session') return void socket.send(JSON.stringify({ op: 9, d: false }));
        if (refusal) return void socket.close(refusal.close, refusal.reason);
        const session: GatewaySession = { id: randomUUID(), seq: 0, shard: shardId, events: [] };
        this.shard(shardId).session = session;
        this.takeUp(connection, session);
        socket.send(JSON.stringify({ op: 0, s: ++session.seq, t: 'READY', d: this.readyData(session.id, frame.d) }));
        return;
      }
      case 6: {
        this.resumes.push(frame.d);
        const session = [...this.shardStates.values()].find((shard) => shard.session?.id === frame.d?.session_id)?.session;
        if (!session || !this.tokenAccepted(frame.d?.token)) return void socket.send(JSON.stringify({ op: 9, d: false }));
        this.takeUp(connection, session);
        this.resumedAt.push({ shard: session.shard, at: Date.now() });
        for (const event of session.events) if (event.s > Number(frame.d.seq)) socket.send(JSON.stringify(event));
        socket.send(JSON.stringify({ op: 0, t: 'RESUMED', ...this.resumed(session) }));
        return;
      }
      default:
        socket.close(4001, 'Unknown opcode.');
    }
  }
}
