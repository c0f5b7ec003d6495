// The reconnect supervisor's connection state, as /healthz shows it to an operator.

import { describe, expect, it } from 'vitest';
import { FatalConnectionError, Supervisor, type SessionControls } from '../src/inbound/supervisor.js';
import { captureLogs, waitFor } from './helpers.js';

describe('supervisor connection state', () => {
  it('goes connecting -> up -> retrying -> up -> failed, and stopped once stopped', async () => {
    const { logger } = captureLogs();
    const script: ((controls: SessionControls) => Promise<void>)[] = [];
    let release: (() => void) | undefined;
    const session = (controls: SessionControls) => script.shift()!(controls);
    const supervisor = new Supervisor({ name: 'test', session }, logger, { initialMs: 20, maxMs: 20, factor: 1 });
    expect(supervisor.state).toBe('stopped');
    // First session: comes up, then drops.
    script.push(
      (c) =>
        new Promise((_, reject) => {
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
    release!();
    await waitFor(() => supervisor.state === 'retrying', 1000, 'retrying');
    await waitFor(() => supervisor.state === 'connecting', 1000, 'connecting again');
    second!();
    expect(supervisor.state).toBe('up');
    release!();
    await waitFor(() => supervisor.state === 'failed', 1000, 'failed');
    await supervisor.stop();
    expect(supervisor.state).toBe('stopped');
  });
});
