// @discordjs/ws 1.2.3's SimpleShardingStrategy, with a teardown that really ends the shard.
//
// Destroying a client whose shard is still connecting leaves ghosts behind: destroyed during
// login's GET /gateway/bot, the shard is spawned afterwards and connects anyway; a socket still in
// CONNECTING is not closed (it opens later and stays open); and the aborted wait for HELLO/READY
// calls destroy({ recover: Reconnect }) itself, which reconnects 500 ms later on a client we have
// already dropped, and whose cleanup unhooks the first destroy's close handler, so that destroy
// never resolves. The supervisor drops clients exactly then (no READY in time, a stall, stop()),
// so it calls end() first: from then on no shard of this strategy connects, a shard not yet ready
// has its socket terminated (there is no session to close gracefully), and whatever socket is
// left after a bounded graceful close is terminated too.
//
// A teardown closes with 4200, not 1000: Discord ends a session closed with 1000 or 1001, and the
// next client (after a restart of Switchboard too) is to resume it (see resume.ts).

import type { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebSocketShardDestroyOptions } from 'discord.js';
import { CloseCodes, SimpleShardingStrategy, WebSocketShardStatus } from './sdk.js';

/** What the library keeps private but a clean teardown must reach. */
interface ShardInternals {
  readonly status: WebSocketShardStatus;
  internalConnect(): Promise<void>;
  connection: (EventEmitter & { readyState: number; terminate?(): void }) | null;
}

const CLOSED = 3;
/** How long a graceful close (our close frame, then the server's) may take. */
const closeDeadlineMs = 1000;

export class EndableShardingStrategy extends SimpleShardingStrategy {
  private isEnded = false;

  /** Whether end() was called: what the shards do from then on is teardown. */
  get ended(): boolean {
    return this.isEnded;
  }

  override async spawn(shardIds: number[]): Promise<void> {
    await super.spawn(shardIds);
    for (const shard of this.shardInternals()) {
      const connect = shard.internalConnect.bind(shard);
      shard.internalConnect = async () => {
        if (!this.isEnded) await connect();
      };
    }
  }

  /** No shard of this strategy connects again, now or later; call before destroying the client. */
  end(): void {
    this.isEnded = true;
    for (const shard of this.shardInternals()) if (shard.status !== WebSocketShardStatus.Ready) terminate(shard);
  }

  override async destroy(options?: Omit<WebSocketShardDestroyOptions, 'recover'>): Promise<void> {
    // The manager also destroys before it spawns (updateShardCount): only an ended strategy is final.
    if (!this.isEnded) return super.destroy(options);
    const shards = this.shardInternals();
    await Promise.race([super.destroy({ ...options, code: CloseCodes.Resuming }), sleep(closeDeadlineMs)]);
    for (const shard of shards) terminate(shard);
  }

  private shardInternals(): ShardInternals[] {
    return [...(this as unknown as { shards: Map<number, ShardInternals> }).shards.values()];
  }
}

function terminate({ connection: socket }: ShardInternals): void {
  if (!socket || socket.readyState === CLOSED) return;
  socket.on('error', () => {}); // terminating a socket still connecting reports an error no one needs
  socket.terminate?.();
}
