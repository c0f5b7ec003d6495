// The supervisor under a connection lease, on a fake clock: one instance of two holds the
// connection, the other stands by and takes over on release or expiry; a holder whose renewals
// fail ends its session before the lease could have run out; a lease taken away ends it at once.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConnectionLease } from '../src/cluster/lease.js';
import { LeaseLostError, Supervisor, type ConnectionState, type SessionControls } from '../src/inbound/supervisor.js';
import type { Leases } from '../src/store/index.js';
import { FakeLeases } from './fake-leases.js';
import { captureLogs } from './helpers.js';

const ttl = 3000;

/** One instance's supervisor of connection "tg": records its sessions and every state it enters. */
function instance(leases: Leases, session?: (controls: SessionControls) => Promise<void>) {
  const { logger, lines } = captureLogs();
  const sessions: SessionControls[] = [];
  const states: ConnectionState[] = [];
  const run =
    session ??
    ((controls: SessionControls) =>
      new Promise<void>((resolve) => {
        controls.alive();
        controls.signal.addEventListener('abort', () => resolve());
      }));
  const supervisor = new Supervisor(
    {
      name: 'tg',
      session: (controls) => {
        sessions.push(controls);
        return run(controls);
      },
    },
    logger,
    { initialMs: 100, maxMs: 100, factor: 1 },
    new ConnectionLease(leases, 'tg', ttl, logger, () => 0.5),
  );
  supervisor.on('state', (state) => states.push(state));
  return { supervisor, sessions, states, logs: lines };
}

/** An instance that has started and taken the lease (nobody else holds it). */
async function holding(leases: Leases, session?: (controls: SessionControls) => Promise<void>) {
  const started = instance(leases, session);
  started.supervisor.start();
  await vi.advanceTimersByTimeAsync(0);
  return started;
}

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe('supervisor with a connection lease', () => {
  it('runs the connection on one instance while the other stands by, and hands it over at once on stop', async () => {
    const leases = new FakeLeases();
    const a = await holding(leases);
    const b = instance(leases);
    b.supervisor.start();
    await vi.advanceTimersByTimeAsync(0);
    expect([a.supervisor.state, a.supervisor.held]).toEqual(['up', true]);
    expect([b.supervisor.state, b.supervisor.held]).toEqual(['standby', false]);
    // Renewed every ttl/3: still held long after the first TTL, and b never runs a session.
    await vi.advanceTimersByTimeAsync(ttl * 4);
    expect(a.sessions).toHaveLength(1);
    expect(a.sessions[0]!.signal.aborted).toBe(false);
    expect(b.sessions).toHaveLength(0);
    expect(leases.holders.get('conn:tg')!.owner).toMatch(/:\d+:[0-9a-f-]{36}$/);

    const stoppedAt = Date.now();
    await a.supervisor.stop();
    expect(leases.holders.has('conn:tg')).toBe(false);
    await vi.advanceTimersByTimeAsync(ttl / 3);
    expect(b.supervisor.state).toBe('up');
    expect(Date.now() - stoppedAt).toBeLessThan(ttl / 2);
    expect(b.sessions[0]!.fence).toEqual({ lease: 'conn:tg', token: 2 });
    expect(a.sessions[0]!.fence).toEqual({ lease: 'conn:tg', token: 1 });
    expect(b.states).toEqual(['standby', 'connecting', 'up']);
    await b.supervisor.stop();
  });

  it('takes over from a holder that died right when its lease runs out', async () => {
    const leases = new FakeLeases();
    const b = instance(leases);
    await leases.acquire('conn:tg', 'a dead instance', ttl);
    vi.advanceTimersByTime(1000);
    b.supervisor.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(b.supervisor.state).toBe('standby');
    // Its lease has 2 s left: b asks again then (plus at most 50 ms of jitter), not a full retry period later.
    await vi.advanceTimersByTimeAsync(ttl / 3);
    expect(b.supervisor.state).toBe('standby');
    await vi.advanceTimersByTimeAsync(2000 - ttl / 3 + 50);
    expect(b.supervisor.state).toBe('up');
    await b.supervisor.stop();
  });

  it('ends the session before the lease could expire when renewals fail, and stands by until it is free again', async () => {
    const leases = new FakeLeases();
    const a = await holding(leases);
    const grantedAt = Date.now();
    leases.failing = true;
    let abortedAt = 0;
    a.sessions[0]!.signal.addEventListener('abort', () => (abortedAt = Date.now()));
    await vi.advanceTimersByTimeAsync(ttl);
    expect(abortedAt - grantedAt).toBeGreaterThan(ttl / 2);
    expect(abortedAt - grantedAt).toBeLessThan(ttl); // the lease (on the server) is still this instance's then
    expect(a.supervisor.held).toBe(false);
    expect(a.supervisor.state).toBe('retrying'); // the store cannot be asked
    expect(a.logs.some((l) => l.msg === 'connection lease lost: ending the session and standing by')).toBe(true);
    leases.failing = false;
    await vi.advanceTimersByTimeAsync(ttl);
    expect(a.supervisor.state).toBe('up');
    expect(a.sessions).toHaveLength(2);
    expect(a.sessions[1]!.fence!.token).toBe(2);
    await a.supervisor.stop();
  });

  it('ends the session at once when a renewal finds the lease taken, and stands by', async () => {
    const leases = new FakeLeases();
    const a = await holding(leases);
    leases.steal('conn:tg');
    await vi.advanceTimersByTimeAsync(ttl / 3);
    expect(a.sessions[0]!.signal.aborted).toBe(true);
    expect(a.supervisor.state).toBe('standby');
    expect(a.sessions).toHaveLength(1);
    await a.supervisor.stop();
    expect(leases.holders.get('conn:tg')!.owner).toBe('someone else'); // not released by a non-holder
  });

  it('stops cleanly whenever the stop lands while the lease is being taken: no session left running, the lease given back', async () => {
    // Each count of microtasks puts the stop at another step of taking the lease.
    for (let ticks = 0; ticks < 12; ticks++) {
      const leases = new FakeLeases();
      const a = instance(leases);
      a.supervisor.start();
      for (let i = 0; i < ticks; i++) await Promise.resolve();
      await a.supervisor.stop();
      expect(a.sessions.every((s) => s.signal.aborted)).toBe(true);
      expect(a.supervisor.state).toBe('stopped');
      expect(leases.holders.has('conn:tg')).toBe(false);
    }
  });

  it('stands by without a backoff when the session finds its fenced write refused', async () => {
    const leases = new FakeLeases();
    const a = await holding(leases, async (controls) => {
      controls.alive();
      leases.steal('conn:tg');
      if (!(await leases.setFenced(controls.fence!))) throw new LeaseLostError('a newer holder wrote since');
    });
    expect(a.states).toEqual(['connecting', 'up', 'standby']);
    expect(a.logs.filter((l) => l.msg === 'connection lost; reconnecting')).toEqual([]);
    await a.supervisor.stop();
  });
});
