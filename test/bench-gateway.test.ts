// The gateway bench runs end to end: every system takes every message of its firehose (a run that
// lost one would never report "done"), and each row has a rate, a CPU cost, and of that cost what
// the collector took, beside the bytes each message left to the old generation.

import { describe, expect, it } from 'vitest';
import { gatewayRows, gatewaySystems } from '../bench/gateway.js';

describe('bench: gateway fan-in', () => {
  it('measures Switchboard and a bare discord.js client on the Discord firehose, Switchboard and a bare ws client on the QQ one', async () => {
    const rows = await gatewayRows({ rounds: 1, quick: true, messages: 1000 });
    expect(rows.map((r) => r.system)).toEqual(Object.values(gatewaySystems).map((s) => s.name));
    for (const row of rows) {
      expect(row.msgPerSec.median).toBeGreaterThan(0);
      expect(row.cpuUsPerMsg.median).toBeGreaterThan(0);
      expect(row.msgPerSec.min).toBeLessThanOrEqual(row.msgPerSec.max);
      // Reported by every system (a short run may see no collection at all); never more than the whole CPU.
      expect(row.gcUsPerMsg?.median, row.system).toBeGreaterThanOrEqual(0);
      expect(row.gcUsPerMsg!.median, row.system).toBeLessThan(row.cpuUsPerMsg.median);
      expect(row.promotedPerMsg?.median, row.system).toBeGreaterThanOrEqual(0);
    }
  }, 120_000);
});
