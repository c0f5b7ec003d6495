// The reconnect supervisor's connection state, as /healthz shows it to an operator. States are
// recorded from the supervisor's 'state' events, so one that lasts a millisecond (the backoff here) is not missed.

import { describe, expect, it } from 'vitest';
import { FatalConnectionError, Supervisor, type ConnectionState, type SessionControls } from '../src/inbound/supervisor.js';
import { captureLogs } from './helpers.js';

/** Resolves when the supervisor next enters `state`. */
function reached(supervisor: Supervisor, state: ConnectionState): Promise<void> {
  return new Promise((resolve) => {
    const listener = (entered: ConnectionState) => {
      if (entered !== state) return;
      supervisor.off('state', listener);
      resolve();
    };
    supervisor.on('state', listener);
  });
}

describe('supervisor connection state', () => {
  it('goes connecting -> up -> retrying -> connecting -> up -> failed, and stopped once stopped, each change reported once', async () => {
    const { logger } = captureLogs();
    const script: ((controls: SessionControls) => Promise<void>)[] = [];
    let release: (() => void) | undefined;
    const session = (controls: SessionControls) => script.shift()!(controls);
    const supervisor = new Supervisor({ name: 'test', session }, logger, { initialMs: 1, maxMs: 1, factor: 1 });
    const states: [ConnectionState, ConnectionState][] = [];
    supervisor.on('state', (state, previous) => states.push([previous, state]));
    expect(supervisor.state).toBe('stopped');
    // First session: comes up (it says so twice: still one change), then drops.
    script.push(
      (c) =>
        new Promise((_, reject) => {
          c.alive();
          c.alive();
          release = () => reject(new Error('socket dropped'));
        }),
    );
    // Second: held connecting until told otherwise, then up, then refused for good.
    let second: (() => void) | undefined;
    script.push(
      (c) =>
        new Promise((_, reject) => {
          second = () => {
            c.alive();
            release = () => reject(new FatalConnectionError('token revoked'));
          };
        }),
    );
    supervisor.start();
    expect(supervisor.state).toBe('up');
    const connectingAgain = reached(supervisor, 'connecting');
    release!();
    await connectingAgain;
    second!();
    expect(supervisor.state).toBe('up');
    const failed = reached(supervisor, 'failed');
    release!();
    await failed;
    await supervisor.stop();
    expect(supervisor.state).toBe('stopped');
    expect(states).toEqual([
      ['stopped', 'connecting'],
      ['connecting', 'up'],
      ['up', 'retrying'],
      ['retrying', 'connecting'],
      ['connecting', 'up'],
      ['up', 'failed'],
      ['failed', 'stopped'],
    ]);
  });

  it("an operator's restart ends the session and starts the next at once, without backoff; a failed connection starts again", async () => {
    const { logger } = captureLogs();
    let sessions = 0;
    let fail = false;
    const session = (c: SessionControls) => {
      sessions++;
      c.alive();
      if (fail) return Promise.reject(new FatalConnectionError('token revoked'));
      return new Promise<void>((_, reject) => c.signal.addEventListener('abort', () => reject(c.signal.reason as Error), { once: true }));
    };
    // An hour of backoff: a restart that waited for it would never reconnect within the test.
    const supervisor = new Supervisor({ name: 'test', session }, logger, { initialMs: 3_600_000, maxMs: 3_600_000, factor: 1 });
    const up1 = reached(supervisor, 'up');
    supervisor.start();
    await up1;
    const since = supervisor.since;
    const states: ConnectionState[] = [];
    supervisor.on('state', (state) => states.push(state));
    const again = reached(supervisor, 'up');
    expect(supervisor.restart()).toBe(true);
    await again;
    expect(states).toEqual(['connecting', 'up']);
    expect(sessions).toBe(2);
    expect(supervisor.since).toBeGreaterThanOrEqual(since);
    fail = true;
    const failed = reached(supervisor, 'failed');
    supervisor.restart();
    await failed;
    expect(supervisor.lastError).toBe('token revoked');
    fail = false;
    const up = reached(supervisor, 'up');
    expect(supervisor.restart()).toBe(true);
    await up;
    await supervisor.stop();
    expect(supervisor.restart()).toBe(false);
  });
});
