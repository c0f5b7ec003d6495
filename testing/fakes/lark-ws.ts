// Lark's long connection as a test drives it: the websocket behind the URL that
// POST /callback/ws/endpoint hands out, speaking binary protobuf pbbp2.Frame. Pings are
// answered with pongs carrying the client config; events go out as data frames and the
// client's ACK frames (the same frame echoed with a {"code":200} payload) are recorded.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeFrame, encodeFrame, type FrameObject } from './pbbp2.js';

export { decodeFrame, encodeFrame, type FrameObject };

export const frameMethod = { control: 0, data: 1 } as const;
export const serviceId = 33;

export interface Ack {
  messageId: string;
  headers: Record<string, string>;
  body: { code: number; data?: string };
}

/** Seconds, as Lark sends them. */
export const clientConfig = { PingInterval: 120, ReconnectCount: -1, ReconnectInterval: 1, ReconnectNonce: 0 };

export class FakeLarkLongConnection {
  readonly acks: Ack[] = [];
  readonly pings: number[] = [];
  connections = 0;
  private readonly wss = new WebSocketServer({ noServer: true });
  private socket: WebSocket | undefined;
  private seq = 0;

  constructor(
    server: Server,
    private readonly path: string,
  ) {
    server.on('upgrade', (req: IncomingMessage, socket, head) => {
      if (new URL(req.url ?? '/', 'http://x').pathname !== this.path) return void socket.destroy();
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    });
  }

  get connected(): boolean {
    return this.socket?.readyState === 1;
  }

  /** Pushes one event as a data frame, as Lark does: headers type=event, message_id, sum=1, seq=0, trace_id. */
  pushEvent(event: object): string {
    const socket = this.socket;
    if (!socket) throw new Error('no long connection is open');
    const messageId = `ws-${++this.seq}-${randomUUID().slice(0, 8)}`;
    const frame: FrameObject = {
      SeqID: this.seq,
      LogID: this.seq,
      service: serviceId,
      method: frameMethod.data,
      headers: [
        { key: 'type', value: 'event' },
        { key: 'message_id', value: messageId },
        { key: 'sum', value: '1' },
        { key: 'seq', value: '0' },
        { key: 'trace_id', value: randomUUID() },
      ],
      payload: Buffer.from(JSON.stringify(event)),
    };
    socket.send(encodeFrame(frame));
    return messageId;
  }

  /** Drops the open connection without a close frame, as a network failure would. */
  drop(): void {
    this.socket?.terminate();
    this.socket = undefined;
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise((resolve) => this.wss.close(resolve));
  }

  private accept(ws: WebSocket): void {
    this.connections++;
    this.socket = ws;
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data);
      const headers = Object.fromEntries(frame.headers.map((h) => [h.key, h.value]));
      if (frame.method === frameMethod.control && headers.type === 'ping') {
        this.pings.push(Date.now());
        ws.send(encodeFrame({ SeqID: 0, LogID: 0, service: serviceId, method: frameMethod.control, headers: [{ key: 'type', value: 'pong' }], payload: Buffer.from(JSON.stringify(clientConfig)) }));
        return;
      }
      if (frame.method === frameMethod.data) {
        this.acks.push({ messageId: headers.message_id ?? '', headers, body: JSON.parse(Buffer.from(frame.payload ?? []).toString('utf8')) as Ack['body'] });
      }
    });
  }
}
