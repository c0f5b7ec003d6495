// A bot for the platforms' streaming tests: it answers every message with a stream, written by the
// test (`writer()`) or yielded from `chunks`, one per `gapMs`.

import { defineBot, type Bot } from '../src/bot/bot.js';
import type { StreamChunk, StreamWriter } from '../src/bot/stream.js';
import { waitFor } from './helpers.js';

export function streamingBot(options: { chunks?: readonly StreamChunk[]; gapMs?: number } = {}): { bot: Bot; writer(): Promise<StreamWriter> } {
  const writers: StreamWriter[] = [];
  const bot = defineBot((b) =>
    b.on('message', (ctx) => {
      const { chunks, gapMs = 0 } = options;
      if (!chunks) return void writers.push(ctx.stream());
      ctx.reply(
        (async function* () {
          for (const chunk of chunks) {
            if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
            yield chunk;
          }
        })(),
      );
    }),
  );
  return { bot, writer: () => waitFor(() => writers[0], 3000, 'the handler') };
}
