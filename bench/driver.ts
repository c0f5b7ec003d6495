// The load: Telegram webhook updates POSTed with a fixed number in flight. A request is complete
// when its reply reaches the fake Bot API; latency is POST start -> reply arrival, one clock.

import { Pool } from 'undici';

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
}

export class Driver {
  private readonly waiting = new Map<string, (at: number) => void>();
  private seq = 0;

  /** The fake API calls this for every sendMessage. */
  readonly onReply = (text: string, at: number): void => {
    const resolve = this.waiting.get(text);
    if (!resolve) return;
    this.waiting.delete(text);
    resolve(at);
  };

  /** Several targets share the load round-robin, request by request, as a reverse proxy would. */
  /** `uniqueChats`: every message from a chat and a user never seen before (the soak), instead of one chat per worker. */
  async run(targets: string | readonly string[], secret: string, requests: number, concurrency: number, uniqueChats = false): Promise<LoadResult> {
    const pools = (typeof targets === 'string' ? [targets] : targets).map((target) => new Pool(target, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 }));
    const latenciesMs: number[] = [];
    let errors = 0;
    let next = 0;
    const started = performance.now();
    // Each worker is one user in their own chat, as real load is many people at once.
    const worker = async (chatId: number) => {
      while (next < requests) {
        next++;
        const id = `b${++this.seq}`;
        const chat = uniqueChats ? 1_000_000 + this.seq : chatId;
        const body = JSON.stringify({
          update_id: this.seq,
          message: { message_id: this.seq, date: 1_700_000_000, chat: { id: chat, type: 'private', first_name: 'Bench' }, from: { id: chat, is_bot: false, first_name: 'Bench' }, text: `/echo ${id}`, entities: [{ type: 'bot_command', offset: 0, length: 5 }] },
        });
        const pool = pools[this.seq % pools.length]!;
        const begun = performance.now();
        const arrived = new Promise<number>((resolve) => this.waiting.set(id, resolve));
        try {
          const res = await pool.request({ path: '/webhooks/tg', method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret }, body });
          await res.body.dump();
          if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
          const at = await Promise.race([arrived, new Promise<number>((_, reject) => setTimeout(() => reject(new Error('no reply in 10 s')), 10_000).unref())]);
          latenciesMs.push(at - begun);
        } catch {
          this.waiting.delete(id);
          errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(1000 + i)));
    const seconds = (performance.now() - started) / 1000;
    await Promise.all(pools.map((pool) => pool.close()));
    return { requests, errors, seconds, latenciesMs };
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
