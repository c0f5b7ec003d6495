// A shard's gateway session kept in the store, so that Switchboard started again (after a crash
// too), or another instance taking the shard over, RESUMEs it and Discord replays the events it
// missed, instead of IDENTIFYing afresh and losing them. Each shard has its own key (its instances
// write it alone) and reads it again at every connection. What is kept is the sequence of the last
// event acknowledged, not of the last one received: events are taken replayable, so one is
// acknowledged once the core has handled it or recorded it (src/pipeline/replayable.ts). A replay
// sends again everything not yet acknowledged, and the core's dedup drops what was handled. A
// session Discord no longer has answers the RESUME with op 9, after which discord.js identifies
// afresh.
//
// discord.js 14 passes no session hooks to @discordjs/ws, so they are set on the manager's options
// from buildStrategy (the manager reads them at each call). The live copy (the sequence of the
// last event received, which heartbeats and in-process resumes use) stays where discord.js keeps it.

import type { APIUser, GatewayReadyDispatchData, SessionInfo, SimpleShardingStrategy } from 'discord.js';
import type { LeaseLostError } from '../../src/inbound/supervisor.js';
import { KeptResumePoint } from '../../src/inbound/resume-point.js';
import type { Logger } from '../../src/runtime/logger.js';
import type { Fence, Store } from '../../src/store/index.js';

type GatewayManager = ConstructorParameters<typeof SimpleShardingStrategy>[0];

export interface KeptSession extends SessionInfo {
  /** From READY: a client that resumes after a restart gets no READY, so these stand in for it. */
  user: APIUser;
  application: GatewayReadyDispatchData['application'];
}

export class GatewaySessions {
  private kept: Record<number, KeptSession> = {};
  private readonly point: KeptResumePoint<Record<number, KeptSession>>;
  private readonly readLegacy: (() => Promise<Record<number, KeptSession> | undefined>) | undefined;

  constructor(
    store: Pick<Store, 'get' | 'set' | 'leases'>,
    /** Names the bot and shard, e.g. `discord:<platform id>:gateway:<shard>`. */
    key: string,
    logger: Logger,
    /** Where a version that kept every shard under one key left them: read while this key holds nothing. */
    legacy?: { key: string; shardId: number },
  ) {
    this.point = new KeptResumePoint(store, key, logger);
    this.readLegacy = legacy ? () => store.get<Record<number, KeptSession>>(legacy.key).then((all) => (all?.[legacy.shardId] ? { [legacy.shardId]: all[legacy.shardId]! } : undefined)) : undefined;
  }

  /**
   * Reads what was kept last, by this process or another; a store that cannot be read leaves what
   * this process knows (nothing at first: identifying afresh). `fence`: the lease the session now
   * starting holds the shard under; what it keeps is written under it.
   */
  async load(fence?: Fence): Promise<void> {
    const kept = await this.point.load(fence, this.readLegacy);
    if (kept) this.kept = kept;
  }

  /**
   * Hooks the manager's session storage. A shard of this client with no session yet resumes the
   * kept one (`onRestored` is told); a session the library drops while the client runs (op 9, a
   * close that ends it) is forgotten, but not one dropped because `ending()` (this client is being
   * torn down, leaving the session to be resumed by the next).
   */
  attach(manager: GatewayManager, ending: () => boolean, onRestored: (shardId: number) => void): void {
    const { retrieveSessionInfo: live, updateSessionInfo: setLive } = manager.options;
    const restore = async (shardId: number): Promise<SessionInfo | null> => {
      const kept = this.kept[shardId];
      if (!kept) return null;
      const { user: _user, application: _application, ...info } = kept;
      await setLive(shardId, info);
      onRestored(shardId);
      return info;
    };
    // Both are called for every dispatch (to move the sequence on): with a live session they answer
    // as the library's own do, without an async frame of ours each time.
    manager.options.retrieveSessionInfo = (shardId) => {
      const current = live(shardId);
      if (current instanceof Promise) return current.then((session) => session ?? restore(shardId));
      return current ?? restore(shardId);
    };
    manager.options.updateSessionInfo = (shardId, info) => {
      const set = setLive(shardId, info);
      if (info !== null) return set;
      return Promise.resolve(set).then(() => {
        if (!ending() && this.kept[shardId]) {
          delete this.kept[shardId];
          this.save();
        }
      });
    };
  }

  /** The bot's user id as the kept session's READY gave it: events replayed on a resume come before any READY. */
  get userId(): string | undefined {
    return Object.values(this.kept)[0]?.user.id;
  }

  /** A READY from Discord: a new session, to be resumed from here on. */
  began(shardId: number, sequence: number, ready: GatewayReadyDispatchData): void {
    if (this.kept[shardId]?.sessionId === ready.session_id) return;
    this.kept[shardId] = {
      sessionId: ready.session_id,
      resumeURL: ready.resume_gateway_url,
      sequence,
      shardId,
      shardCount: ready.shard?.[1] ?? 1,
      user: ready.user,
      application: ready.application,
    };
    this.save();
  }

  /** The session a shard is on now, to tell later which session an event belonged to. */
  sessionOf(shardId: number): string | undefined {
    return this.kept[shardId]?.sessionId;
  }

  /** An event was acknowledged (handled, recorded, or needing neither): a resume may start after it. Events are told in order. */
  recorded(shardId: number, sessionId: string, sequence: number): void {
    const kept = this.kept[shardId];
    if (!kept || kept.sessionId !== sessionId || sequence <= kept.sequence) return;
    kept.sequence = sequence;
    this.save();
  }

  /** What READY said for the kept session, for a client that resumed it without one. */
  ready(shardId: number): GatewayReadyDispatchData | undefined {
    const kept = this.kept[shardId];
    if (!kept) return undefined;
    return { v: 10, user: kept.user, application: kept.application, guilds: [], session_id: kept.sessionId, resume_gateway_url: kept.resumeURL, shard: [shardId, kept.shardCount] };
  }

  /** Told when a write is refused because another instance holds the shard now: the session must end. */
  onRefused(listener: (error: LeaseLostError) => void): void {
    this.point.onRefused(listener);
  }

  /** Waits for the last write. */
  flush(): Promise<void> {
    return this.point.flush();
  }

  /** Made once: recorded() saves once per event. */
  private readonly snapshot = () => structuredClone(this.kept);

  private save(): void {
    this.point.save(this.snapshot);
  }
}
