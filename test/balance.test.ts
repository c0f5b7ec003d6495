// Spreading a platform's connections over instances, on a fake clock: each instance holds its
// share (ceil(k / M)); one that holds more after another joins releases the surplus, which the
// other takes; a free lease nobody else takes is still taken; one connection is taken at once; a
// lease released is taken by a standby at once when told so; what is cheap to hand over goes at once.

import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Balancer, type BalancerOptions } from '../src/cluster/balance.js';
import type { Signals } from '../src/store/index.js';
import { Supervisor, type SessionControls } from '../src/inbound/supervisor.js';
import { FakeLeases } from './fake-leases.js';
import { captureLogs } from './helpers.js';

const ttl = 3000;

/** Sessions running now, by shard, across instances: a shard never runs two. */
class Running {
  readonly sessions = new Map<string, number>();
  overlapped = false;
  begin(name: string): void {
    const count = (this.sessions.get(name) ?? 0) + 1;
    if (count > 1) this.overlapped = true;
    this.sessions.set(name, count);
  }
  end(name: string): void {
    this.sessions.set(name, this.sessions.get(name)! - 1);
  }
}

/**
 * One instance running `count` connections of group "gw" (shard-0, shard-1, ...), each session up
 * until aborted and then taking `closeMs` to end (a gateway closing its socket).
 */
function instance(leases: FakeLeases, count: number, running = new Running(), closeMs = 0, options: BalancerOptions = {}) {
  const { logger, lines } = captureLogs();
  const balancer = new Balancer(leases, ttl, logger, options);
  const sessions: SessionControls[] = [];
  const supervisors = Array.from({ length: count }, (_, shard) => {
    const name = `shard-${shard}`;
    const connection = {
      name,
      session: (controls: SessionControls) =>
        new Promise<void>((resolve) => {
          sessions.push(controls);
          running.begin(name);
          controls.alive();
          const end = () => (running.end(name), resolve());
          controls.signal.addEventListener('abort', () => (closeMs ? setTimeout(end, closeMs) : end()));
        }),
    };
    return new Supervisor(connection, logger, { initialMs: 100, maxMs: 100, factor: 1 }, balancer.lease('gw', name, logger));
  });
  return {
    sessions,
    logs: lines,
    async start() {
      await balancer.start();
      for (const s of supervisors) s.start();
    },
    async stop() {
      const stopping = Promise.all(supervisors.map((s) => s.stop()));
      await vi.advanceTimersByTimeAsync(closeMs);
      await stopping;
      await balancer.stop();
    },
    /** Stops as a work queue's instance does: withdrawn from the roster at once, its sessions stopped (and their leases released) meanwhile. */
    async leave() {
      await Promise.all([balancer.stop(), ...supervisors.map((s) => s.stop())]);
    },
    /** The shards this instance holds, by number. */
    held: () => supervisors.flatMap((s, shard) => (s.held ? [shard] : [])),
  };
}

/** Advances the clock in steps of ttl/10 until `done`, for at most `withinMs`; the time it took. */
async function until(done: () => boolean, withinMs: number): Promise<number> {
  const from = Date.now();
  while (!done()) {
    if (Date.now() - from > withinMs) throw new Error(`not within ${withinMs} ms`);
    await vi.advanceTimersByTimeAsync(ttl / 10);
  }
  return Date.now() - from;
}

/** Signals between the instances of one test, as a shared store carries them. */
function signals(): Signals {
  const bus = new EventEmitter();
  return {
    notify: async (topic) => void bus.emit(topic),
    watch: async (topic, listener) => {
      bus.on(topic, listener);
      return () => bus.off(topic, listener);
    },
  };
}

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe('balancing a group of connection leases over instances', () => {
  it('an instance that holds every shard releases one when a second joins, which takes it once its session there has ended: one each', async () => {
    const leases = new FakeLeases();
    const running = new Running();
    const a = instance(leases, 2, running, ttl / 4);
    await a.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(a.held()).toEqual([0, 1]);

    const b = instance(leases, 2, running, ttl / 4);
    await b.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(b.held()).toEqual([]);
    await until(() => a.held().length === 1 && b.held().length === 1, 3 * ttl);
    // The released shard's session had ended (ttl/4 to close) before b could take its lease.
    expect(running.overlapped).toBe(false);
    expect(a.logs.filter((l) => l.msg?.startsWith('holding more than'))).toHaveLength(1);

    // And so it stays: a does not take its released shard back, nor b give its one up.
    const sessions = [a.sessions.length, b.sessions.length];
    await vi.advanceTimersByTimeAsync(5 * ttl);
    expect([a.held().length, b.held().length]).toEqual([1, 1]);
    expect([a.sessions.length, b.sessions.length]).toEqual(sessions);

    // b leaving: a takes its shard back at once (b withdrew, so a's share is both again).
    await b.stop();
    await until(() => a.held().length === 2, ttl);
    await a.stop();
  });

  it('two instances starting together end with one shard each', async () => {
    const leases = new FakeLeases();
    const a = instance(leases, 2);
    const b = instance(leases, 2);
    await Promise.all([a.start(), b.start()]);
    await until(() => a.held().length === 1 && b.held().length === 1, 3 * ttl);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('shares four shards two and two, releasing one at a time', async () => {
    const leases = new FakeLeases();
    const a = instance(leases, 4);
    await a.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(a.held()).toHaveLength(4);
    const b = instance(leases, 4);
    await b.start();
    await until(() => a.held().length === 3, ttl);
    expect(b.held().length).toBeLessThanOrEqual(1);
    await until(() => a.held().length === 2 && b.held().length === 2, 4 * ttl);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('still takes a free lease that the other instance does not (its share already held), after leaving it to the others a while', async () => {
    const leases = new FakeLeases();
    // Another live instance that takes no connection (its platform config differs, say): a holds its share, then waits ttl/2.
    const phantom = setInterval(() => void leases.announce('phantom', ttl), ttl / 3);
    await leases.announce('phantom', ttl);
    const a = instance(leases, 2);
    await a.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(a.held()).toHaveLength(1);
    const took = await until(() => a.held().length === 2, ttl);
    expect(took).toBeGreaterThanOrEqual(ttl / 2);
    clearInterval(phantom);
    await a.stop();
  });

  it('takes a single connection at once whatever the number of instances', async () => {
    const leases = new FakeLeases();
    await leases.announce('another', ttl);
    const a = instance(leases, 1);
    await a.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(a.held()).toEqual([0]);
    await vi.advanceTimersByTimeAsync(5 * ttl);
    expect(a.sessions).toHaveLength(1);
    await a.stop();
  });

  it('hands a released lease to an instance standing by at once when the release is signalled, not at its next try', async () => {
    const timeToTake = async (options: BalancerOptions) => {
      const leases = new FakeLeases();
      const a = instance(leases, 1, undefined, 0, options);
      await a.start();
      await vi.advanceTimersByTimeAsync(0);
      const b = instance(leases, 1, undefined, 0, options);
      await b.start();
      await vi.advanceTimersByTimeAsync(ttl / 10);
      expect(b.held()).toEqual([]);
      await a.stop();
      const took = await until(() => b.held().length === 1, ttl);
      await b.stop();
      return took;
    };
    expect(await timeToTake({ signals: signals() })).toBe(0);
    // Without the signal, at its next try: about ttl/3 later.
    expect(await timeToTake({})).toBeGreaterThanOrEqual(ttl / 5);
  });

  it('releases its whole surplus in one step when told that handing over is cheap (work queue partitions)', async () => {
    const leases = new FakeLeases();
    const options = { releaseStep: 8, signals: signals() };
    const a = instance(leases, 8, undefined, 0, options);
    await a.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(a.held()).toHaveLength(8);
    const b = instance(leases, 8, undefined, 0, options);
    await b.start();
    // One heartbeat (ttl/4) to count b, then every lease past a's share goes at once: well within one ttl.
    await until(() => a.held().length === 4 && b.held().length === 4, ttl / 2);
    expect(a.logs.filter((l) => l.msg?.startsWith('holding more than'))).toHaveLength(1);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('takes every lease an instance leaving has released at once, not at its next heartbeat: it counts the instances again first', async () => {
    const leases = new FakeLeases();
    const options = { releaseStep: 8, signals: signals() };
    const a = instance(leases, 8, undefined, 0, options);
    const b = instance(leases, 8, undefined, 0, options);
    await a.start();
    await b.start();
    await until(() => a.held().length === 4 && b.held().length === 4, ttl * 2);
    await a.leave();
    // Within a tenth of a ttl: before b's next heartbeat (ttl/4) and its next look at a deferred lease (ttl/6).
    expect(await until(() => b.held().length === 8, ttl)).toBeLessThanOrEqual(ttl / 10);
    await b.stop();
  });
});
