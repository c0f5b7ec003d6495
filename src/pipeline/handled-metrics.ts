// The metrics of messages handled to the end: a counter by outcome and a timing histogram. Their
// series are resolved once per bot and outcome, not per message: prom-client hashes the labels at
// every inc and observe, and a key joined per message would be hashed afresh each time. The bot id
// (the config's string) and the outcome (a literal) keep their hash.

import type { Message } from '../message.js';
import type { Metrics } from '../runtime/metrics.js';
import type { Outcome } from './journal.js';

interface Series {
  count: () => void;
  seconds: (seconds: number) => void;
}

export class HandledMetrics {
  /** By bot (which names its platform), then outcome: as many as bots times outcomes. */
  private readonly series = new Map<string, Map<Outcome, Series>>();

  constructor(private readonly metrics: Metrics) {
    metrics
      .describe('switchboard_messages_total', 'Messages handled to the end, by outcome: answered, rejected, limited, handler failed, delivery failed, failed')
      .describe('switchboard_message_seconds', 'Time to handle a message, from its turn in the chat queue to its replies sent (onSent not included)');
  }

  handled(message: Message, outcome: Outcome, ms: number): void {
    let ofBot = this.series.get(message.botId);
    if (!ofBot) this.series.set(message.botId, (ofBot = new Map()));
    let series = ofBot.get(outcome);
    if (!series) {
      const { platform, botId: bot } = message;
      series = { count: this.metrics.counter('switchboard_messages_total', { platform, bot, outcome }), seconds: this.metrics.timing('switchboard_message_seconds', { platform }) };
      ofBot.set(outcome, series);
    }
    series.count();
    series.seconds(ms / 1000);
  }
}
