import type { Adapter } from '../src/adapter.js';
import type { OutgoingMessage } from '../src/message.js';

/** An adapter that keeps what it is asked to send (and refuses a reply whose text is `failFor`), for pipeline tests. */
export function recorder(failFor?: string) {
  const sent: OutgoingMessage[] = [];
  const adapter: Adapter = {
    id: 'chat',
    type: 'test',
    start: async () => {},
    stop: async () => {},
    send: async (message) => {
      sent.push(message);
      const text = message.content.map((s) => (s.type === 'text' ? s.text : s.type)).join('');
      return text === failFor ? { ok: false, ids: [], error: 'refused', ms: 1 } : { ok: true, ids: [`m${sent.length}`], ms: 1 };
    },
  };
  return { adapter, sent, texts: () => sent.map((m) => m.content.map((s) => (s.type === 'text' ? s.text : `[${s.type}]`)).join('')) };
}
