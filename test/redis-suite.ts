// The frame of a test file that runs Switchboard instances on Redis against the Telegram fake: Redis
// required and the fake started before its tests, the fake stopped after them, and what a test
// pushed onto `cleanups` run after it, last first.

import { afterAll, afterEach, beforeAll } from 'vitest';
import { FakeTelegram } from './fakes/telegram-api.js';
import { requireRedis } from './redis.js';

export function redisTelegramSuite(): { fake: FakeTelegram; cleanups: (() => Promise<unknown>)[] } {
  const fake = new FakeTelegram();
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    await requireRedis();
    await fake.start();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });
  afterAll(() => fake.stop());
  return { fake, cleanups };
}
