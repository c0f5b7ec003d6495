// The Discord gateway (v10, JSON, no compression) as a test drives it: the shared session
// protocol of ./gateway.ts, with Discord's token check, READY (with resume_gateway_url),
// connections taken on /gateway and /resume, and a client's close with 1000 or 1001 ending its
// session (any other code leaves it to be resumed). Sharding as Discord does it: IDENTIFY names
// `shard: [id, count]`, a guild's events go to shard (guild_id >> 22) % count and DMs to shard 0,
// too few shards are refused with 4011 and a shard outside the count with 4010.

import type { Server } from 'node:http';
import { WebSocketServer } from 'ws';
import { FakeGateway, type GatewaySession, type IdentifyRefusal } from './gateway.js';

export class FakeDiscordGateway extends FakeGateway {
  /** The query string of every connection (discord.js adds ?v=10&encoding=json). */
  readonly queries: string[] = [];
  /** Where READY tells the client to resume; set by the fake server once it listens. */
  resumeUrl = '';
  protected readonly wss = new WebSocketServer({ noServer: true });
  /** What GET /gateway/bot recommends; an IDENTIFY with fewer shards is refused (4011, sharding required). */
  shards = 1;
  /** GET /gateway/bot's session_start_limit.max_concurrency: shard n identifies in bucket n % maxConcurrency. */
  maxConcurrency = 1;
  /** A second IDENTIFY in one bucket within this many ms gets op 9, as Discord answers an identify over its limit; 0 lets every one through. */
  identifyWindowMs = 0;
  /** The shard count the sessions identified with: events are routed by it. */
  private shardCount = 1;
  private readonly lastIdentify = new Map<number, number>();

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

  /** Sends an event on the shard Discord would send it on (or on `shard`). */
  push(t: string, d: any, shard = this.shardFor(t, d)): number {
    return this.dispatch(t, d, {}, shard);
  }

  /** A guild's events go to shard (guild_id >> 22) % count; events of no guild (DMs) to shard 0. */
  shardFor(t: string, d: any): number {
    const guild = d?.guild_id ?? (/^GUILD_(CREATE|UPDATE|DELETE)$/.test(t) ? d?.id : undefined);
    return guild === undefined ? 0 : Number((BigInt(guild) >> 22n) % BigInt(this.shardCount));
  }

  protected refuseIdentify(d: any): IdentifyRefusal | undefined {
    if (d?.token !== this.checks.token) return { close: 4004, reason: 'Authentication failed.' };
    const shard: unknown = d.shard ?? [0, 1];
    if (!Array.isArray(shard) || shard.length !== 2 || !shard.every(Number.isInteger) || shard[1] < 1 || shard[0] < 0 || shard[0] >= shard[1]) return { close: 4010, reason: 'Invalid shard.' };
    const [id, count] = shard as [number, number];
    if (count < this.shards) return { close: 4011, reason: 'Sharding required.' };
    const bucket = id % this.maxConcurrency;
    const now = Date.now();
    if (now - (this.lastIdentify.get(bucket) ?? -Infinity) < this.identifyWindowMs) return 'invalid session';
    this.lastIdentify.set(bucket, now);
    this.shardCount = count;
    return undefined;
  }

  protected tokenAccepted(token: unknown): boolean {
    return token === this.checks.token;
  }

  protected override closeEndsSession(code: number): boolean {
    return code === 1000 || code === 1001;
  }

  protected readyData(sessionId: string, identify: any): unknown {
    const user = { ...this.checks.botUser, discriminator: '0', global_name: null, avatar: null, bot: true };
    return { v: 10, user, guilds: [], session_id: sessionId, resume_gateway_url: this.resumeUrl, application: { id: this.checks.applicationId, flags: 0 }, shard: identify?.shard ?? [0, 1] };
  }

  protected resumed(session: GatewaySession): { s: number; d: unknown } {
    return { s: ++session.seq, d: {} };
  }
}
