// The streamed-reply scenarios every platform that edits its messages must pass, against its own
// fake through the real runtime: what the chat shows (messages and their edits, as the fake took
// them), the final text byte-exact, the pace kept, the split at the length limit, a stream that
// throws, and an edit the platform refuses. Each platform's test file gives a StreamRig.

import { afterEach, describe, expect, it } from 'vitest';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { StreamChunk } from '../src/bot/stream.js';
import { defaultStreamSettings } from '../src/delivery/stream.js';
import { waitFor } from './helpers.js';

/** A platform message as the chat shows it now. */
export interface ShownMessage {
  id: string;
  text: string;
}

/** A call the platform took for a message: its send, then each edit, with the text it showed. */
export interface TakenCall {
  kind: 'send' | 'edit';
  id: string;
  text: string;
  /** When the fake received it (Date.now()). */
  at: number;
}

export interface StreamRig {
  /** A user's message reaches the bot. */
  say(text: string): Promise<void>;
  /** The bot's messages in the chat, in order. */
  shown(): ShownMessage[];
  /** The sends and edits the platform took, in order. */
  taken(): TakenCall[];
  /** The platform refuses the next edit of message `id` (deleted, recalled, too old). */
  refuseNextEdit(id: string): void;
  stop(): Promise<void>;
}

export interface StreamPlatform {
  name: string;
  /** Characters the platform's streaming declares per message. */
  maxLength: number;
  /** Characters the platform's ordinary send puts in one message, where more than maxLength. */
  sendLimit?: number;
  /** The least gap between two calls for one message that the adapter must keep (ms). */
  minGapMs: number;
  start(bot: Bot): Promise<StreamRig>;
}

/** The bot answers every message with `stream()`. */
export const streamingBot = (stream: () => AsyncIterable<StreamChunk>) => defineBot((b) => b.on('message', (ctx) => void ctx.reply(stream())));

const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ee9c8a9b0000000049454e44ae426082', 'hex');

/** An answer whose text ends with a row of buttons, then an image: "Pick one:" [Yes] [No], and a PNG. */
export async function* pickOne(): AsyncIterable<StreamChunk> {
  yield 'Pick ';
  yield 'one:';
  yield { type: 'buttons', rows: [[{ label: 'Yes', value: 'yes' }, { label: 'No', value: 'no' }]] };
  yield { type: 'image', data: png, mime: 'image/png' };
}

/** Clocks differ (the fake's Date.now at arrival, the core's performance.now at sending): a little slack. */
const slackMs = 15;

export function streamScenarios(platform: StreamPlatform): void {
  describe(`${platform.name}: streamed replies`, () => {
    let rig: StreamRig | undefined;
    afterEach(async () => {
      await rig?.stop();
      rig = undefined;
    });
    const start = async (stream: (rig: () => StreamRig) => AsyncIterable<StreamChunk>) => {
      rig = await platform.start(streamingBot(() => stream(() => rig!)));
      return rig;
    };
    /** Waits until the chat's last message shows `text` (a stream's chunk reached the user). */
    const showing = (r: StreamRig, text: string) => waitFor(() => r.shown().at(-1)?.text === text && r.shown().at(-1)!, 6000, `the chat showing "${text.slice(-30)}"`);

    it('grows one message through edits, paced, and ends with the exact text', async () => {
      const chunks = ['Once ', 'upon ', 'a time, ', 'in a chat ', 'far away… ', 'the end. ✓'];
      const r = await start(async function* (rig) {
        let text = '';
        for (const chunk of chunks) {
          yield chunk;
          text += chunk;
          await showing(rig(), text); // the next chunk only once this one is seen: one edit each
        }
      });
      await r.say('tell me a story');
      const full = chunks.join('');
      // The last chunk is shown by an update, then the stream's end by finish: two calls with the whole text.
      const [message] = await waitFor(() => r.shown().length === 1 && r.taken().filter((c) => c.text === full).length >= 2 && r.shown(), 8000, 'the final edit');
      expect(message!.text).toBe(full);
      const calls = r.taken();
      expect(calls[0]).toMatchObject({ kind: 'send', id: message!.id, text: chunks[0] });
      expect(calls.slice(1).every((c) => c.kind === 'edit' && c.id === message!.id)).toBe(true);
      // Every chunk was shown, in order, each text growing from the one before.
      expect(calls.length).toBeGreaterThanOrEqual(chunks.length);
      for (let i = 1; i < calls.length; i++) expect(calls[i]!.text.startsWith(calls[i - 1]!.text)).toBe(true);
      for (let i = 1; i < calls.length; i++) expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(platform.minGapMs - slackMs);
    });

    it('goes on in a new message past the length limit, every message within it', async () => {
      const words = Array.from({ length: Math.ceil((platform.maxLength * 2.5) / 7) }, (_, i) => `w${String(i).padStart(5, '0')} `);
      const full = words.join('').trimEnd();
      const r = await start(async function* () {
        for (let i = 0; i < words.length; i += 50) yield words.slice(i, i + 50).join('');
      });
      await r.say('a long one');
      const shown = await waitFor(() => r.shown().length >= 2 && r.shown().map((m) => m.text).join(' ').trimEnd() === full && r.shown(), 15_000, 'the whole answer in the chat');
      // The message shown live is finished at the limit; what the stream had past it when it ended goes by the ordinary send.
      expect(shown[0]!.text.length).toBeLessThanOrEqual(platform.maxLength);
      expect(shown[0]!.text.length).toBeGreaterThan(platform.maxLength - 10);
      for (const message of shown) expect(message.text.length).toBeLessThanOrEqual(platform.sendLimit ?? platform.maxLength);
      expect(new Set(shown.map((m) => m.id)).size).toBe(shown.length);
    });

    it('keeps what was shown when the stream throws, with the notice after it', async () => {
      const r = await start(async function* (rig) {
        yield 'The answer begins';
        await showing(rig(), 'The answer begins');
        throw new Error('the model went away');
      });
      await r.say('go');
      const expected = `The answer begins\n\n${defaultStreamSettings.notice}`;
      await showing(r, expected);
      expect(r.shown()).toHaveLength(1);
    });

    it('sends the rest as a new message when the platform refuses an edit', async () => {
      const r = await start(async function* (rig) {
        yield 'Shown first. ';
        const first = await showing(rig(), 'Shown first. ');
        rig().refuseNextEdit(first.id);
        yield 'Then the rest.';
      });
      await r.say('go');
      const shown = await waitFor(() => r.shown().length === 2 && r.shown(), 8000, 'a second message');
      expect(shown[0]!.text).toBe('Shown first. ');
      expect(shown[1]!.text).toBe('Then the rest.');
      expect(shown[1]!.id).not.toBe(shown[0]!.id);
    });
  });
}

/** A platform that cannot edit a message: the core collects a streamed reply and sends it once. */
export interface CollectRig {
  /** A user's message reaches the bot. */
  say(text: string): Promise<void>;
  /** The text of each message the bot sent, in order. */
  texts(): string[];
  stop(): Promise<void>;
}

export function collectedScenarios(name: string, start: (bot: Bot) => Promise<CollectRig>): void {
  describe(`${name}: streamed replies, collected`, () => {
    let rig: CollectRig | undefined;
    afterEach(async () => {
      await rig?.stop();
      rig = undefined;
    });
    const chunks = ['Once ', 'upon ', 'a time, ', 'in a chat ', 'far away… ', 'the end. ✓'];
    const bot = defineBot((b) =>
      b.on('message', (ctx) => {
        if (ctx.text.endsWith('control')) return ctx.reply('control answer');
        const fails = ctx.text.endsWith('fail');
        return ctx.reply(
          (async function* () {
            for (const chunk of fails ? chunks.slice(0, 2) : chunks) {
              yield chunk;
              await new Promise(setImmediate); // the chunks come one at a time, as a model writes them
            }
            if (fails) throw new Error('the model went away');
          })(),
        );
      }),
    );
    /** A message after the stream's: once its answer is in, anything the stream sent is in too (a chat's messages are handled in order). */
    const settled = async (r: CollectRig, what: string) => {
      await r.say('control');
      await waitFor(() => r.texts().includes('control answer'), 6000, `the control answer after ${what}`);
      return r.texts();
    };

    it('sends the whole answer as one message once the stream ends', async () => {
      rig = await start(bot);
      await rig.say('tell me a story');
      await waitFor(() => rig!.texts().length >= 1, 6000, 'the answer');
      expect(await settled(rig, 'the answer')).toEqual([chunks.join(''), 'control answer']);
    });

    it('sends what the stream wrote before it threw, with the notice', async () => {
      rig = await start(bot);
      await rig.say('fail');
      await waitFor(() => rig!.texts().length >= 1, 6000, 'the answer');
      expect(await settled(rig, 'the answer')).toEqual([`Once upon \n\n${defaultStreamSettings.notice}`, 'control answer']);
    });
  });
}
