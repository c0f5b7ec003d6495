// Every per-chat or per-user structure has a bound (`npm run bench -- --soak` shows why: a bot
// hears from new chats and users all day). Each is filled far past its bound here and its size
// asserted. Elsewhere: the pacer's buckets (pacer.test.ts), the prompt registry (prompt.test.ts),
// the per-user limit's windows (limits.test.ts), the HTTP adapter's reply cache (http.test.ts),
// Lark's and WeCom's chat kinds (lark-unit, wecom-unit).

import { rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PassiveReplies } from '../adapters/qq/passive.js';
import { Chats } from '../adapters/sandbox/chats.js';
import type { Message } from '../src/message.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { silentLogger } from '../src/runtime/logger.js';
import { MemoryStore } from '../src/store/index.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { heldEchoBot, tempStorePath, waitFor } from './helpers.js';
import { recorder } from './recorder.js';

function message(i: number): Message {
  const text = `m${i}`;
  return { id: String(i), platform: 'test', botId: 'chat', channel: { id: `chat-${i}`, type: 'direct' }, author: { id: `user-${i}`, isBot: false }, content: [{ type: 'text', text }], text, mentionsBot: false, timestamp: 0, raw: {} };
}

describe('bounds of what grows with chats and users', () => {
  it("the memory store's entries (dedup keys): the oldest go past maxEntries", async () => {
    const store = new MemoryStore(100);
    for (let i = 0; i < 1000; i++) expect(await store.claim(`dedup:${i}`, 3_600_000)).toBe(true);
    expect(store.keys).toBe(100);
    expect(await store.claim('dedup:999', 3_600_000)).toBe(false); // the newest are still deduplicated
    expect(await store.claim('dedup:0', 3_600_000)).toBe(true); // the oldest were forgotten
    expect(store.keys).toBe(100);
  });

  it('the per-chat queues: a chat is queued only while its event holds a slot, so never more than maxInFlight', async () => {
    const rec = recorder();
    const { bot, release } = heldEchoBot();
    const p = new Pipeline({ bot, adapters: new Map([['chat', rec.adapter]]), store: new MemoryStore(), logger: silentLogger(), maxInFlight: 8 });
    const admissions = Array.from({ length: 200 }, (_, i) => p.dispatch('chat', { key: String(i), normalize: () => message(i) }));
    await waitFor(() => p.queuedChats === 8, 2000, 'every slot taken');
    expect(p.queuedChats).toBe(8);
    release();
    expect(new Set(await Promise.all(admissions))).toEqual(new Set(['accepted']));
    await p.drain(5000);
    expect(rec.texts()).toHaveLength(200);
    expect(p.queuedChats).toBe(0);
  });

  it("the sandbox's chat histories: past maxChats the chat started longest ago is forgotten", () => {
    const chats = new Chats(5, 50);
    for (let i = 0; i < 500; i++) for (let n = 0; n < 3; n++) chats.append({ id: `${i}.${n}`, chatId: `c${i}`, from: { id: 'u', name: 'U', isBot: false }, timestamp: 0, segments: [] });
    expect(chats.size).toBe(50);
    expect(chats.history('c0')).toEqual([]);
    expect(chats.history('c499').map((m) => m.id)).toEqual(['499.0', '499.1', '499.2']);
  });

  it("QQ's passive-reply sources: at most maxEntries, the oldest dropped first", () => {
    const passive = new PassiveReplies(100);
    const t = 1_000_000;
    for (let i = 0; i < 1000; i++) passive.received(`m${i}`, `group:G${i}`, 'group', t + i);
    expect(passive.size).toBe(100);
    expect(passive.source('m999', 'group:G999', 'group', t + 1000)).toBe('m999');
  });

  it("the SQLite store's WAL: one large transaction (the sweep of an hour's dedup keys) does not leave it large", async () => {
    let now = 1_000_000;
    const path = tempStorePath();
    const store = SqliteStore.open({ path, now: () => now });
    const walMb = () => statSync(`${path}-wal`).size / 2 ** 20;
    try {
      await Promise.all(Array.from({ length: 300_000 }, (_, i) => store.claim(`tg:update:${i}`, 3_600_000)));
      now += 3_600_000;
      // One transaction that deletes them all: a WAL far past the 1000-page autocheckpoint.
      await store.write(() => store.sql.sweep.run(now));
      expect(walMb()).toBeGreaterThan(16);
      for (let i = 0; i < 3000; i++) await store.claim(`next:${i}`, 60_000);
      expect(walMb()).toBeLessThanOrEqual(8);
    } finally {
      await store.close();
      rmSync(dirname(path), { recursive: true, force: true });
    }
  });
});
