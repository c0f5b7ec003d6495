// The latency histograms as /metrics serves them: Prometheus text a scraper reads, cumulative
// buckets, +Inf, _sum and _count per series.

import { describe, expect, it } from 'vitest';
import { Metrics } from '../src/runtime/metrics.js';

const lines = (text: string, name: string) => text.split('\n').filter((line) => line.startsWith(name));

describe('Metrics histograms', () => {
  it('serves each series as cumulative buckets with +Inf, _sum and _count, whether observed through timing() or observe()', async () => {
    const metrics = new Metrics().describe('switchboard_message_seconds', 'Time to handle a message');
    const discord = metrics.timing('switchboard_message_seconds', { platform: 'discord' });
    for (const seconds of [0.0005, 0.001, 0.003, 0.2, 20]) discord(seconds);
    metrics.observe('switchboard_message_seconds', { platform: 'telegram' }, 0.02);
    discord(Number.NaN); // not a time: not counted, and the sum stays a number
    const text = await metrics.render();
    expect(text).toContain('# HELP switchboard_message_seconds Time to handle a message\n# TYPE switchboard_message_seconds histogram\n');
    expect(lines(text, 'switchboard_message_seconds_bucket{platform="discord"')).toEqual([
      'switchboard_message_seconds_bucket{platform="discord",le="0.001"} 2',
      'switchboard_message_seconds_bucket{platform="discord",le="0.005"} 3',
      'switchboard_message_seconds_bucket{platform="discord",le="0.01"} 3',
      'switchboard_message_seconds_bucket{platform="discord",le="0.025"} 3',
      'switchboard_message_seconds_bucket{platform="discord",le="0.05"} 3',
      'switchboard_message_seconds_bucket{platform="discord",le="0.1"} 3',
      'switchboard_message_seconds_bucket{platform="discord",le="0.25"} 4',
      'switchboard_message_seconds_bucket{platform="discord",le="0.5"} 4',
      'switchboard_message_seconds_bucket{platform="discord",le="1"} 4',
      'switchboard_message_seconds_bucket{platform="discord",le="2.5"} 4',
      'switchboard_message_seconds_bucket{platform="discord",le="5"} 4',
      'switchboard_message_seconds_bucket{platform="discord",le="10"} 4',
      'switchboard_message_seconds_bucket{platform="discord",le="+Inf"} 5',
    ]);
    expect(lines(text, 'switchboard_message_seconds_sum{platform="discord"}')).toEqual(['switchboard_message_seconds_sum{platform="discord"} 20.2045']);
    expect(lines(text, 'switchboard_message_seconds_count{platform="discord"}')).toEqual(['switchboard_message_seconds_count{platform="discord"} 5']);
    expect(lines(text, 'switchboard_message_seconds_bucket{platform="telegram",le="0.025"}')).toEqual(['switchboard_message_seconds_bucket{platform="telegram",le="0.025"} 1']);
    expect(lines(text, 'switchboard_message_seconds_count{platform="telegram"}')).toEqual(['switchboard_message_seconds_count{platform="telegram"} 1']);
    // A series observed after the first read is served too.
    metrics.timing('switchboard_message_seconds', { platform: 'qq' })(0.5);
    expect(lines(await metrics.render(), 'switchboard_message_seconds_count{platform="qq"}')).toEqual(['switchboard_message_seconds_count{platform="qq"} 1']);
    const series = await metrics.series('switchboard_message_seconds');
    expect(series.find((s) => s.metricName === 'switchboard_message_seconds_bucket' && s.labels.platform === 'qq' && s.labels.le === 0.5)?.value).toBe(1);
  });

  it('registers a histogram made before the registry and one made after it', async () => {
    const metrics = new Metrics().describe('a_seconds', 'a').describe('b_seconds', 'b');
    metrics.observe('a_seconds', { stage: 'onMessage' }, 0.1);
    await metrics.render();
    metrics.observe('b_seconds', { stage: 'onSent' }, 0.1);
    const text = await metrics.render();
    expect(text).toContain('a_seconds_count{stage="onMessage"} 1');
    expect(text).toContain('b_seconds_count{stage="onSent"} 1');
  });
});
