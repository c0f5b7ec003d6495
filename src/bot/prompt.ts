// What ctx.prompt offers a bot author: its options, its answer, and how an answer picks a button.
// The waiting itself is the pipeline's (src/pipeline/prompts.ts); the semantics are in docs/conversations.md.

import { duration } from '../runtime/units.js';
import type { Button, Content, Message, Segment } from '../message.js';

export interface PromptOptions {
  /** How long to wait for the answer: "30s", "2m", "1h", or milliseconds. Default 5 minutes, at most a day. */
  timeout?: string | number;
  /** Sent to the chat when the wait times out, before the handler goes on. */
  timeoutReply?: Content;
  /** Quote the message being answered with the question (default true). */
  quote?: boolean;
}

/**
 * What `await ctx.prompt(...)` gives back. The user answered: their message, its text (for a button,
 * the button's value) and the button picked. Or no answer came: the wait timed out, or a newer
 * prompt to the same user in the same chat replaced this one.
 */
export type Answer =
  | { timedOut: false; text: string; message: Message; button?: Button }
  | { timedOut: true; reason: 'timeout' | 'replaced'; text?: undefined; message?: undefined; button?: undefined };

/** How the pipeline waits for an answer for one handler run; bound to its Context. */
export type Prompter = (content: Content, options: PromptOptions) => Promise<Answer>;

export const defaultPromptTimeoutMs = 5 * 60_000;
const maxPromptTimeoutMs = 24 * 3_600_000;

/** The wait in ms; bad input throws an error that names the option and what it takes. */
export function promptTimeoutMs(timeout: string | number | undefined): number {
  if (timeout === undefined) return defaultPromptTimeoutMs;
  const parsed = duration.safeParse(timeout);
  if (!parsed.success || parsed.data <= 0 || parsed.data > maxPromptTimeoutMs) {
    throw new Error(`ctx.prompt: timeout ${JSON.stringify(timeout)} is not a wait between 1ms and 24h; give one like "30s", "2m" or a number of milliseconds`);
  }
  return parsed.data;
}

/**
 * The button a reply picked. A click arrives as a message holding the button's value; where a
 * platform shows buttons as numbered lines (buttonsAsText), the user types its number, label or value.
 */
export function pickedButton(question: readonly Segment[], text: string): Button | undefined {
  const typed = text.trim();
  let number = 0;
  let byLabel: Button | undefined;
  for (const segment of question) {
    if (segment.type !== 'buttons') continue;
    for (const row of segment.rows) {
      for (const button of row) {
        number++;
        if (button.url) continue;
        if ((button.value ?? button.label) === typed || String(number) === typed) return button;
        if (!byLabel && button.label.toLowerCase() === typed.toLowerCase()) byLabel = button;
      }
    }
  }
  return byLabel;
}

/** The answer a message makes to a question. */
export function answerOf(question: readonly Segment[], message: Message): Answer {
  const button = pickedButton(question, message.text);
  return button ? { timedOut: false, text: button.value ?? button.label, message, button } : { timedOut: false, text: message.text, message };
}
