// One streamed reply into a Telegram group: `tokens` chunks at `rate` a second from a bot, through
// Switchboard (in this process) to the fake Bot API. What it shows: the calls Telegram received
// (the group's 20 a minute, burst 3, over the stream's duration, not one per chunk) and the CPU
// each chunk costs (this process's process.cpuUsage() over the stream, per chunk; the fake's
// handful of calls is in it too), beside the same chunk schedule with nobody reading it: on an idle
// machine a timer waking the process costs several hundred µs by itself, which is the producer's.

import { defineBot } from '../src/bot/bot.js';
import { parseConfig } from '../src/runtime/config.js';
import { silentLogger } from '../src/runtime/logger.js';
import { definitions } from '../src/runtime/registry.js';
import { Runtime } from '../src/runtime/runtime.js';
import { FakeTelegram } from '../testing/fakes/telegram-api.js';

export interface StreamResult {
  tokens: number;
  tokensPerSecond: number;
  /** First chunk to the last call Telegram received. */
  seconds: number;
  /** Calls Telegram received that show the reply, by method. */
  calls: Record<string, number>;
  total: number;
  /** What a group allows in that time: a burst of 3, then 20 a minute. */
  allowed: number;
  cpuMicrosPerChunk: number;
  /** The same schedule of chunks produced with nobody reading them (timers alone), per chunk. */
  producerMicrosPerChunk: number;
}

const group = { id: -100, type: 'supergroup', title: 'Bench' };
/** About four characters a token, as a model's English runs: 2,000 tokens are two Telegram messages. */
const words = ['the ', 'cat ', 'sat ', 'on ', 'a ', 'mat, ', 'and\n', 'then '];

export async function streamBench(options: { tokens: number; tokensPerSecond: number }): Promise<StreamResult> {
  const { tokens, tokensPerSecond } = options;
  const fake = new FakeTelegram();
  await fake.start();
  let started = 0;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  const bot = defineBot((b) =>
    b.on('message', (ctx) => {
      ctx.reply(
        (async function* () {
          started = performance.now();
          cpuAtStart = process.cpuUsage();
          yield* chunks(tokens, tokensPerSecond, started);
        })(),
      );
    }),
  );
  const yaml = `server: { port: 0 }
store: { type: memory }
platforms:
  - { id: tg, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}", pollTimeout: 30 }
`;
  const runtime = await Runtime.create(parseConfig(yaml, { definitions, source: 'bench', baseDir: process.cwd(), env: {} }), { bot, logger: silentLogger() });
  await runtime.start();
  try {
    const sample = Math.min(tokens, 250);
    const alone = process.cpuUsage();
    for await (const _ of chunks(sample, tokensPerSecond, performance.now()));
    const producer = process.cpuUsage(alone);
    fake.pushMessage({ text: 'tell me a long story', chat: group });
    const expected = Array.from({ length: tokens }, (_, i) => words[i % words.length]).join('').trim();
    const timeoutMs = (tokens / tokensPerSecond) * 1000 + 60_000;
    // Done when the messages the chat shows hold the whole answer.
    const deadline = Date.now() + timeoutMs;
    const shown = () => fake.delivered().map((c) => fake.textOf(group.id, c.messageId!) ?? '').join('\n');
    while (shown() !== expected) {
      if (Date.now() > deadline) throw new Error(`the streamed reply did not arrive whole within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const cpu = process.cpuUsage(cpuAtStart);
    const showing = fake.calls.filter((c) => /^(send|edit)/.test(c.method));
    const calls: Record<string, number> = {};
    for (const c of showing) calls[c.method] = (calls[c.method] ?? 0) + 1;
    const seconds = (showing.at(-1)!.at - (performance.timeOrigin + started)) / 1000;
    return {
      tokens,
      tokensPerSecond,
      seconds,
      calls,
      total: showing.length,
      allowed: 3 + Math.floor((seconds * 20) / 60),
      cpuMicrosPerChunk: (cpu.user + cpu.system) / tokens,
      producerMicrosPerChunk: (producer.user + producer.system) / sample,
    };
  } finally {
    await runtime.stop();
    await fake.stop();
  }
}

/** `count` tokens on a schedule from `from`, so timer drift does not stretch the stream. */
async function* chunks(count: number, perSecond: number, from: number): AsyncGenerator<string> {
  for (let i = 0; i < count; i++) {
    const wait = from + (i * 1000) / perSecond - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    yield words[i % words.length]!;
  }
}

export function printStream(result: StreamResult): void {
  const calls = Object.entries(result.calls)
    .map(([method, n]) => `${method} ${n}`)
    .join(', ');
  console.log(`Streaming: one ${result.tokens.toLocaleString('en')}-token reply into a Telegram group at ${result.tokensPerSecond} tokens/s, over ${result.seconds.toFixed(1)} s:`);
  console.log(`  Telegram API calls ${result.total} (${calls}); a group allows ${result.allowed} in that time (burst 3, then 20/min): ${result.total <= result.allowed ? 'within' : 'OVER'}`);
  const own = result.cpuMicrosPerChunk - result.producerMicrosPerChunk;
  console.log(`  CPU ${result.cpuMicrosPerChunk.toFixed(1)} µs per chunk; the producer's timers alone ${result.producerMicrosPerChunk.toFixed(1)} µs${own > 0 ? `, so Switchboard's part about ${own.toFixed(1)} µs` : ' (the difference is below the noise)'}`);
}
