// Every store backend, for suites that must hold on each: memory, SQLite and Redis (each test file
// under prefixes of its own; dropPrefixes() in afterAll removes them).

import { MemoryStore, type Store } from '../src/store/index.js';
import { RedisStore } from '../src/store/redis/index.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { sleep, tempStorePath } from './helpers.js';
import { dropPrefix, redisUrl, testPrefix } from './redis.js';

/**
 * A backend keeps time by a clock the test moves, or (Redis, whose keys expire on the server) by
 * the real one: `ttl` and `pass` say how long a key lives in a test and how to let that time pass.
 * `place()` is new storage (a SQLite file, a Redis prefix); two stores opened on one place share
 * their data where the backend can (`sharesPlace`): two processes on one file, two instances on one Redis.
 */
export interface Backend {
  place(): string;
  open(place: string, now: () => number): Store | Promise<Store>;
  sharesPlace: boolean;
  ttl: number;
  pass(clock: { now: number }, ms: number): Promise<void>;
}

const prefixes: string[] = [];
const fakeClock = { ttl: 60_000, pass: async (clock: { now: number }, ms: number) => void (clock.now += ms) };

export const backends: [string, Backend][] = [
  ['memory', { place: () => '', open: (_place, now) => new MemoryStore(100_000, now), sharesPlace: false, ...fakeClock }],
  ['sqlite', { place: tempStorePath, open: (path, now) => SqliteStore.open({ path, now }), sharesPlace: true, ...fakeClock }],
  [
    'redis',
    {
      place: () => {
        const prefix = testPrefix('store');
        prefixes.push(prefix);
        return prefix;
      },
      open: (prefix, now) => RedisStore.open({ url: redisUrl, prefix, now }),
      sharesPlace: true,
      ttl: 200,
      pass: async (clock, ms) => {
        clock.now += ms;
        await sleep(ms); // the server's clock: expiry is Redis's own
      },
    },
  ],
];

export async function dropPrefixes(): Promise<void> {
  for (const prefix of prefixes.splice(0)) await dropPrefix(prefix);
}
