// One shard's discord.js client, limited to that shard (`shards: [n], shardCount: N`), as a
// session of the core supervisor: each shard is its own supervised connection, so that any
// instance can hold any shard.
//
// Who reconnects what: within a session discord.js (@discordjs/ws) keeps the gateway up itself:
// it resumes after a dropped socket, op 7 or a zombie connection (missed heartbeat ACKs) and
// identifies afresh after op 9, and a resume replays the dispatches we missed. The session ends,
// and the supervisor destroys this client and logs in a new one after an exponential, jittered
// backoff, when discord.js cannot go on: an unrecoverable close code (fatal for a bad token or
// intents), no READY within the deadline (no HELLO, say), several reconnects in a row that never
// got back to READY/RESUMED (discord.js alone would retry every half second), or no gateway
// activity at all for the supervisor's stall timeout.
//
// The gateway session outlives the client (resume.ts): a new client, in this process or the next,
// resumes it from the last event acknowledged (handled or recorded). Such a client gets RESUMED but never READY, which
// discord.js needs to become ready (until then it queues every event); READY as the session
// began is played to it from what was kept.

import type { EventEmitter } from 'node:events';
import type { ClientOptions, GatewayDispatchPayload, RESTOptions, SimpleShardingStrategy } from 'discord.js';
import { Client, Events, GatewayCloseCodes, GatewayDispatchEvents, Options } from './sdk.js';
import type { Admission } from '../../src/adapter.js';
import type { Logger } from '../../src/runtime/logger.js';
import { FatalConnectionError, type SessionControls } from '../../src/inbound/supervisor.js';
import { Fifo } from '../../src/pipeline/fifo.js';
import type { IdentifyThrottler } from './identify.js';
import type { GatewaySessions } from './resume.js';
import { EndableShardingStrategy } from './strategy.js';

type GatewayManager = ConstructorParameters<typeof SimpleShardingStrategy>[0];

export interface SessionOptions {
  token: string;
  intents: number;
  rest: Partial<RESTOptions>;
  logger: Logger;
  /** How long login may take to reach READY. */
  readyTimeoutMs: number;
  /** How often to look for heartbeat ACKs, which discord.js does not announce. */
  livenessPollMs: number;
  /** Reconnects in a row without reaching READY/RESUMED before the whole client is restarted with backoff. */
  maxReconnects: number;
  /** This client's shard: its id and the bot's shard count. */
  shard: { id: number; count: number };
  /** Waits for the shard's turn to IDENTIFY, given GET /gateway/bot's max_concurrency. */
  identifyThrottler(maxConcurrency: number): IdentifyThrottler;
  /** Where the gateway session is kept across clients and restarts. */
  sessions: GatewaySessions;
  onClient(client: Client | undefined): void;
  /**
   * Every gateway dispatch, READY and replayed ones included, in the order received; for an event
   * handed to the core, its admission: a resume starts after the last one recorded (or handled).
   * `replayed`: it came before this client's READY or RESUMED, so a resumed session may be sending
   * again an event taken before the restart.
   */
  onDispatch(packet: GatewayDispatchPayload, replayed: boolean): Promise<Admission> | undefined;
}

/** A dispatch handed to the core, until its admission settles. */
interface Pending {
  admission: Promise<Admission> | undefined;
  shardId: number;
  sessionId: string | undefined;
  sequence: number;
}

/** Close codes after which connecting again cannot help, and what to change. */
const fatalCodes: Partial<Record<number, string>> = {
  [GatewayCloseCodes.AuthenticationFailed]: 'Discord rejected the bot token (4004); check platforms[].token',
  [GatewayCloseCodes.InvalidIntents]: 'Discord rejected the intents (4013); check platforms[].intents',
  [GatewayCloseCodes.DisallowedIntents]:
    'intents not enabled for this app (4014): switch on the privileged intents (Message Content, and Server Members/Presence if listed) under Bot in the Developer Portal, or remove them from platforms[].intents',
  [GatewayCloseCodes.ShardingRequired]: 'Discord requires more shards for this bot (4011): set platforms[].shardCount to auto (then restart every instance), or higher',
  [GatewayCloseCodes.InvalidShard]: 'Discord refused the shard (4010): check platforms[].shardCount',
};

/**
 * Messages are read from raw dispatches, so discord.js need not keep them, nor a user, a member or
 * (without Partials.Channel) a DM channel for every author: those caches would only grow. Guilds,
 * their channels and threads stay cached (channelKind reads them).
 */
export function cacheLimits(): ClientOptions['makeCache'] {
  return Options.cacheWithLimits({
    ...Options.DefaultMakeCacheSettings,
    MessageManager: 0,
    UserManager: { maxSize: 0, keepOverLimit: (user) => user.id === user.client.user?.id },
    GuildMemberManager: { maxSize: 0, keepOverLimit: (member) => member.id === member.client.user?.id },
  });
}

export async function runSession(options: SessionOptions, { signal, alive }: SessionControls): Promise<void> {
  const { logger, sessions } = options;
  let strategy: EndableShardingStrategy | undefined;
  let manager: GatewayManager | undefined;
  /** Shards that resumed a kept session on connecting: they get no READY from Discord. */
  const restored = new Set<number>();
  /**
   * Admissions, settled in the order of their events by one loop (not a promise chained per event:
   * a firehose has tens of thousands waiting). `settling` is that loop while it runs.
   */
  const admissions = new Fifo<Pending>();
  let settling: Promise<void> | undefined;
  /** An event this client received could not be recorded: nothing after it counts as recorded either. */
  let held = false;
  /**
   * Until READY or RESUMED: a session resumed from what was kept replays from the last event
   * acknowledged, which a previous client may have handled. Later resumes within this client start
   * from the last event it received, so they replay nothing it has seen.
   */
  let replaying = true;
  const client = new Client({
    intents: options.intents,
    shards: [options.shard.id],
    shardCount: options.shard.count,
    rest: options.rest,
    makeCache: cacheLimits(),
    ws: {
      buildStrategy: (built) => {
        const own = new EndableShardingStrategy(built);
        sessions.attach(built, () => own.ended, (shardId) => restored.add(shardId));
        manager = built;
        return (strategy = own);
      },
      buildIdentifyThrottler: async (manager) => {
        const throttler = options.identifyThrottler((await manager.fetchGatewayInformation()).session_start_limit.max_concurrency);
        return {
          // Waiting for the bucket's turn (behind other shards, on other instances too) is not a slow login: readyTimeout counts from the turn.
          async waitForIdentify(shardId, signal) {
            clearTimeout(readyTimer);
            try {
              await throttler.waitForIdentify(shardId, signal);
            } finally {
              if (!client.isReady()) armReady();
            }
          },
        };
      },
    },
  });
  skipMessageObjects(client);
  options.onClient(client);
  let lastBeat = -1;
  let reconnects = 0;
  let readyTimer: NodeJS.Timeout | undefined;
  let armReady = () => {};
  let ended = false;
  let poll: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => reject(error);
      signal.addEventListener('abort', () => resolve(), { once: true });
      sessions.onRefused(fail);
      armReady = () => {
        clearTimeout(readyTimer);
        if (!ended) readyTimer = setTimeout(() => fail(new Error(`no READY within ${options.readyTimeoutMs} ms of connecting`)), options.readyTimeoutMs);
      };
      armReady();
      (client as EventEmitter).on(Events.Raw, (packet: GatewayDispatchPayload, shardId: number) => {
        if (packet.t === GatewayDispatchEvents.Ready) sessions.began(shardId, packet.s, packet.d);
        if (packet.t === GatewayDispatchEvents.Ready || packet.t === GatewayDispatchEvents.Resumed) replaying = false;
        const sessionId = sessions.sessionOf(shardId);
        admissions.push({ admission: options.onDispatch(packet, replaying), shardId, sessionId, sequence: packet.s });
        settling ??= settle();
      });
      const settle = async () => {
        for (let next = admissions.shift(); next; next = admissions.shift()) {
          if ((await next.admission) !== 'closed') {
            if (held) continue;
            // Alive once taken: a client that keeps failing to record events backs off more each time.
            alive();
            if (next.sessionId !== undefined) sessions.recorded(next.shardId, next.sessionId, next.sequence);
            continue;
          }
          held = true;
          // Discord replays it to the next client, which resumes from the last event acknowledged.
          if (!signal.aborted) fail(new Error('a gateway event could not be recorded (is the store failing?); reconnecting to have it sent again'));
        }
        settling = undefined;
      };
      client.once(Events.ClientReady, (ready) => {
        clearTimeout(readyTimer);
        logger.info({ username: ready.user.username }, 'gateway ready');
        poll = setInterval(() => {
          const beat = client.ws.shards.first()?.lastPingTimestamp ?? -1;
          if (beat !== lastBeat) alive();
          lastBeat = beat;
        }, options.livenessPollMs);
      });
      client.on(Events.ShardResume, (shardId, replayed) => {
        reconnects = 0;
        logger.info({ replayed }, 'gateway session resumed');
        if (restored.delete(shardId) && !client.isReady() && manager) playReady(manager, sessions, shardId);
      });
      client.on(Events.ShardReady, () => (reconnects = 0));
      client.on(Events.ShardReconnecting, () => {
        reconnects++;
        logger.info({ attempt: reconnects }, 'gateway connection closed; discord.js is reconnecting');
        if (reconnects > options.maxReconnects) fail(new Error(`gateway reconnect failed ${options.maxReconnects} times in a row`));
      });
      client.on(Events.ShardDisconnect, ({ code }) => {
        const fatal = fatalCodes[code];
        fail(fatal ? new FatalConnectionError(fatal) : new Error(`gateway closed the connection for good (${code})`));
      });
      client.on(Events.Error, (error) => logger.warn({ err: error.message }, 'discord.js error'));
      client.on(Events.ShardError, (error) => logger.debug({ err: error.message }, 'gateway socket error'));
      client.login(options.token).catch((error: Error & { code?: string }) => {
        if (error.code === 'TokenInvalid') fail(new FatalConnectionError('Discord rejected the bot token (401); check platforms[].token'));
        else fail(error);
      });
    });
  } finally {
    ended = true;
    clearTimeout(readyTimer);
    clearInterval(poll);
    options.onClient(undefined);
    client.removeAllListeners();
    client.on(Events.Error, () => {}); // a late error from the dying client has no one left to tell
    strategy?.end();
    await destroy(client, logger);
    await settling;
    await sessions.flush();
  }
}

/**
 * Messages are normalized from the raw dispatch (normalize.ts), yet discord.js would also build a
 * Message of its own for every MESSAGE_CREATE (with its author, member and mentions) that nothing
 * reads: most of the client's work per message. Building it also writes the author into the
 * dispatch (`Object.assign(data.member, { user })`), so the raw payload recorded with the event
 * would carry a discord.js User. This client's MessageCreate action does nothing instead.
 */
function skipMessageObjects(client: Client): void {
  (client as unknown as { actions: { MessageCreate: { handle(data: unknown): object } } }).actions.MessageCreate.handle = () => ({});
}

/**
 * READY for a shard that resumed a kept session, as the @discordjs/ws manager reports it to
 * discord.js: the bot's user and application, no guilds (they were known to the last client only).
 */
function playReady(manager: GatewayManager, sessions: GatewaySessions, shardId: number): void {
  const data = sessions.ready(shardId);
  if (!data) return;
  manager.emit('ready', { shardId, data });
  manager.emit('dispatch', { shardId, data: { op: 0, t: GatewayDispatchEvents.Ready, s: 0, d: data } });
}

/** destroy() waits for the server's close frame; an unresponsive server must not hold up the next session. */
async function destroy(client: Client, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)));
  await Promise.race([client.destroy().catch((error: Error) => logger.debug({ err: error.message }, 'client.destroy failed')), timeout]);
  clearTimeout(timer);
}
