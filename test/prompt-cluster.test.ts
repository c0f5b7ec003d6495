// ctx.prompt with several instances on one Redis store: the question is asked on one instance and
// the answer's job is made to run on another (the asker's workers stop taking jobs, as an ingress's
// would). What the chat on the Telegram fake shows is judged: the answer reaches the handler that
// asked, once; an answer for an asker that died, or whose wait ended before the hand-over reached
// it, is an ordinary message, answered once, and so is one whose asker went silent during its turn
// (the worker that offered it resumes the event); a worker that shuts down while it waits on an offer
// leaves the job to the next, which waits on the same offer; and the chat goes on in order afterwards.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { ClusterWork } from '../src/cluster/work-queue.js';
import type { Store } from '../src/store/index.js';
import { RedisStore } from '../src/store/redis/index.js';
import { parseConfig } from '../src/runtime/config.js';
import { definitions } from '../src/runtime/registry.js';
import { Runtime, type Role } from '../src/runtime/runtime.js';
import { SwitchboardProcess } from './drill/child.js';
import { captureLogs, waitFor, type LogLine } from './helpers.js';
import { dropPrefix, redisUrl, testPrefix } from './redis.js';
import { redisTelegramSuite } from './redis-suite.js';

const secret = 'prompt-cluster';
const { fake, cleanups } = redisTelegramSuite();
const bot = fileURLToPath(new URL('./fixtures/prompt-bot.ts', import.meta.url));

interface Setup {
  yaml: string;
  config: string;
  dir: string;
  prefix: string;
}

/** One config for every instance of a test: a Redis store under a prefix of its own, Telegram by webhook. */
async function setup(stallTimeout: string): Promise<Setup> {
  const prefix = testPrefix('prompt-cluster');
  cleanups.push(() => dropPrefix(prefix));
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-prompt-cluster-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'switchboard.yaml');
  const yaml = [
    `bot: ${bot}`,
    'server: { port: 0, shutdownTimeout: 3s }',
    `store: { type: redis, url: "${redisUrl}", prefix: "${prefix}" }`,
    `cluster: { partitions: 4, stallTimeout: ${stallTimeout} }`,
    'platforms:',
    `  - { id: tg, type: telegram, token: "${fake.token}", mode: webhook, secretToken: ${secret}, apiRoot: "${fake.url}", limits: false }`,
    '',
  ].join('\n');
  await writeFile(config, yaml);
  return { yaml, config, dir, prefix };
}

/** An instance in this process, its log lines kept; by default with the config's bot and a store of its own. */
async function instance({ yaml, dir }: Setup, role: Role, options: { bot?: Bot; store?: Store } = {}): Promise<{ runtime: Runtime; logs: LogLine[] }> {
  const config = parseConfig(yaml, { definitions, env: {}, source: 'switchboard.yaml', baseDir: dir });
  const { logger, lines } = captureLogs();
  const runtime = await Runtime.create(config, { role, logger, ...options });
  await runtime.start();
  cleanups.push(() => runtime.stop());
  return { runtime, logs: lines };
}

/** From now on the instance's workers take no job (its pipeline, waits included, goes on): the next ones run elsewhere. */
function stopTaking(runtime: Runtime): void {
  (runtime as unknown as { work: ClusterWork }).work.stopTaking();
}

let updateId = 7_000_000;
let chats = 0;
/** Posts a user's message the way Telegram does, to one instance; resolves once it answered 200. */
async function post(url: string, chat: number, text: string): Promise<void> {
  const id = ++updateId;
  const entities = text.startsWith('/') ? [{ type: 'bot_command', offset: 0, length: text.length }] : undefined;
  const body = JSON.stringify({ update_id: id, message: { message_id: id, date: 1_700_000_000, chat: { id: chat, type: 'private', first_name: 'P' }, from: { id: chat, is_bot: false, first_name: 'P' }, text, entities } });
  const res = await fetch(`${url}/webhooks/tg`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret } });
  await res.arrayBuffer();
  expect(res.status).toBe(200);
}

/** What the chat shows, in order. */
const shown = (chat: number) => fake.delivered().filter((c) => c.params.chat_id === String(chat)).map((c) => c.params.text);
const shows = (chat: number, text: string, timeoutMs = 10_000) => waitFor(() => shown(chat).includes(text), timeoutMs, `"${text}" in chat ${chat}`);
const logged = (logs: LogLine[], msg: string) => logs.some((l) => l.msg === msg);

/** An instance in this process asks a new chat's user `command`'s question (its workers, the only ones yet, take the job). */
async function asked(command: string, question: string, stallTimeout = '5s', options: { bot?: Bot; store?: (s: Setup) => Promise<Store> } = {}) {
  const s = await setup(stallTimeout);
  const asker = await instance(s, 'all', { bot: options.bot, store: await options.store?.(s) });
  const chat = 91_000 + ++chats;
  await post(asker.runtime.url, chat, command);
  await shows(chat, question);
  return { s, asker, chat };
}

/** A second instance whose worker takes every job from now on: the asker's take none. */
async function workerBeside(s: Setup, asker: Runtime) {
  const other = await instance(s, 'worker');
  stopTaking(asker);
  return other;
}

/**
 * A bot whose /name handler, once answered, says so (`inTurn`) and holds its turn until `release`
 * (never, unless called), then greets the answer.
 */
function holdingBot() {
  let turnStarted!: () => void;
  const inTurn = new Promise<void>((resolve) => (turnStarted = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const bot = defineBot((b) => {
    b.command('name', async (ctx) => {
      const answer = await ctx.prompt('Your name?', { timeout: '1m', quote: false });
      if (answer.timedOut) return;
      turnStarted();
      await released;
      return `Hello, ${answer.text}!`;
    });
  });
  return { bot, inTurn, release };
}

describe('ctx.prompt with several instances', () => {
  it('hands the answer another instance\'s worker took to the instance that asked: one reply, and the chat goes on with ordinary messages', async () => {
    const { s, asker, chat } = await asked('/name', 'Your name?');
    const other = await workerBeside(s, asker.runtime);
    await post(asker.runtime.url, chat, 'Ada');
    // The other instance's job for the answer ends once the asker ran its turn (replies delivered).
    await waitFor(() => logged(other.logs, 'the answer to a prompt was handled by the instance that asked'), 10_000, 'the answer\'s job to end on the other instance');
    expect(logged(other.logs, 'this message answers a prompt another instance waits for; handed over to it')).toBe(true);
    expect(shown(chat)).toEqual(['Your name?', 'Hello, Ada!']);
    // The wait is over and the chat free: the next message is ordinary, handled by the other instance's worker.
    await post(asker.runtime.url, chat, 'again');
    await shows(chat, 'echo: again');
    expect(shown(chat)).toEqual(['Your name?', 'Hello, Ada!', 'echo: again']);
  }, 30_000);

  it('handles the answer as an ordinary message when the instance that asked died (SIGKILL) while waiting', async () => {
    const s = await setup('2s');
    const asker = await SwitchboardProcess.start(s.config, s.dir);
    cleanups.push(() => asker.kill());
    const chat = 91_000 + ++chats;
    await post(asker.url, chat, '/name');
    await shows(chat, 'Your name?');
    // Its job finished before it dies: the wait is all it leaves. The line is logged as the event's
    // end is written: the event must be gone from the store (finished) before the kill.
    await asker.waitForLine((l) => l.includes('"msg":"message handled"'), 5000, 'the question\'s job to end');
    const redis = new Redis(redisUrl);
    cleanups.push(async () => redis.disconnect());
    await waitFor(async () => (await redis.hlen(`${s.prefix}events`)) === 0, 5000, 'the question\'s event to be finished in the store');
    const other = await instance(s, 'all');
    await asker.kill();
    await post(other.runtime.url, chat, 'Ada');
    await shows(chat, 'echo: Ada', 15_000);
    expect(shown(chat)).toEqual(['Your name?', 'echo: Ada']);
  }, 40_000);

  it('handles the answer as an ordinary message when the hand-over reaches the asker after its wait timed out', async () => {
    const { s, asker, chat } = await asked('/quick', 'Quick, your name?');
    // The wait as the store holds it now; restored after the timeout, it is what a worker that looked it
    // up in the moment before the timeout acts on: the race between a hand-over and a timeout, made certain.
    const redis = new Redis(redisUrl);
    cleanups.push(async () => redis.disconnect());
    const [key] = await redis.keys(`${s.prefix}kv:prompt:wait:*`);
    const record = await redis.get(key!);
    expect(record).toContain('"instance"');
    const other = await workerBeside(s, asker.runtime);
    await shows(chat, 'no answer (timeout)');
    await redis.set(key!, record!, 'PX', 60_000);
    await post(asker.runtime.url, chat, 'Ada');
    await shows(chat, 'echo: Ada');
    expect(logged(other.logs, 'this message answers a prompt another instance waits for; handed over to it')).toBe(true);
    expect(logged(other.logs, 'the instance that asked no longer waits for this answer; it is an ordinary message')).toBe(true);
    expect(shown(chat)).toEqual(['Quick, your name?', 'Too slow.', 'no answer (timeout)', 'echo: Ada']);
  }, 30_000);

  it('goes on with the answer on the worker that offered it when the asker goes silent during the answer\'s turn: an ordinary message, answered once', async () => {
    let store: RedisStore | undefined;
    // The asker's handler takes the answer, then never gets further: the turn outlives the asker.
    const { bot: stuck, inTurn } = holdingBot();
    const { s, asker, chat } = await asked('/name', 'Your name?', '2s', { bot: stuck, store: async ({ prefix }) => (store = await RedisStore.open({ url: redisUrl, prefix })) });
    const other = await workerBeside(s, asker.runtime);
    await post(asker.runtime.url, chat, 'Ada');
    await inTurn;
    // The asker's store connection cut: no more liveness and no word on the turn, as if it had died.
    store!.redis.disconnect();
    await shows(chat, 'echo: Ada', 15_000);
    expect(logged(other.logs, 'the instance that took this answer is gone; its turn goes on here from the journal')).toBe(true);
    expect(shown(chat)).toEqual(['Your name?', 'echo: Ada']);
  }, 30_000);

  it('keeps one hand-over when the worker that offered the answer shuts down: the job goes back, the next worker waits on the same offer, one reply', async () => {
    // The answer's turn on the asker lasts until the test lets it go.
    const { bot: slow, inTurn, release } = holdingBot();
    const { s, asker, chat } = await asked('/name', 'Your name?', '5s', { bot: slow });
    const first = await workerBeside(s, asker.runtime);
    await post(asker.runtime.url, chat, 'Ada');
    await inTurn;
    const next = await instance(s, 'worker');
    await first.runtime.stop();
    // The next worker took the job back from the queue and waits on the offer it finds.
    await waitFor(() => next.logs.some((l) => l.msg === 'resuming an event left unfinished by the last run'), 10_000, 'the next worker to take the job');
    release();
    await waitFor(() => logged(next.logs, 'the answer to a prompt was handled by the instance that asked'), 10_000, 'the answer\'s job to end on the next worker');
    expect(logged(next.logs, 'this message answers a prompt another instance waits for; handed over to it')).toBe(false);
    expect(shown(chat)).toEqual(['Your name?', 'Hello, Ada!']);
  }, 30_000);
});
