// `switchboard outbox list|retry|drop`: the dead letters an operator can see and act on, read
// straight from the store (a running Switchboard sends a retried item within a few seconds; a
// stopped one at its next start).

import type { OutboxRecord, Store } from '../store/index.js';
import { plainText } from '../message.js';

export const outboxUsage = `Usage: switchboard outbox <list|retry|drop> [item] [--config file.yaml]

  list           the dead letters: replies the retry policy gave up on, with their errors
  retry <item>   send a dead letter again (the running Switchboard picks it up within seconds)
  drop <item>    forget a dead letter`;

export async function outboxCommand(store: Store, args: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const [action, item] = args;
  if (action === 'list') {
    const dead = await store.outbox.list('dead');
    const retrying = await store.outbox.list('retry');
    if (dead.length === 0 && retrying.length === 0) {
      out('No dead letters.');
      return 0;
    }
    for (const record of [...dead, ...retrying]) out(describe(record));
    return 0;
  }
  if ((action === 'retry' || action === 'drop') && item) {
    const done = action === 'retry' ? await store.outbox.retry(item) : await store.outbox.drop(item);
    if (!done) {
      const record = await store.outbox.get(item);
      err(record ? `${item} is ${record.state}, not a dead letter; only dead letters can be ${action === 'retry' ? 'retried' : 'dropped'}` : `no item ${item} in the outbox; \`switchboard outbox list\` shows the dead letters`);
      return 1;
    }
    out(action === 'retry' ? `${item}: queued; it is sent within a few seconds by the running Switchboard, or at its next start.` : `${item}: dropped.`);
    return 0;
  }
  err(outboxUsage);
  return 2;
}

function describe(record: OutboxRecord): string {
  const text = plainText(record.message.content).replace(/\s+/g, ' ');
  const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text || `[${record.message.content.map((s) => s.type).join(', ')}]`;
  const when = new Date(record.updatedAt).toISOString();
  return `${record.key}  ${record.state === 'retry' ? 'retry queued' : 'dead'}  ${record.message.to.botId}/${record.message.to.channelId}  ${when}  tries: ${record.attempts}\n    "${shown}"\n    error: ${record.error ?? '(none)'}`;
}
