// The streaming example: /story tells a short story word by word, the answer growing in the chat
// while it is written, as a language model's would (docs/streaming.md). Everything else is answered
// as the example bot (bots/echo.ts) answers it. Run it on the sandbox with examples/stream.yaml.

import { defineBot } from 'switchboard';
import { echoBot } from './echo.js';

const story = [
  'Once upon a time a small robot lived in a lighthouse by the sea.',
  'Every night it polished the great lamp until it shone like a second moon.',
  'One stormy evening a fishing boat lost its way among the rocks.',
  'The robot turned the lamp towards the waves, and the boat came safely home.',
];

/** The story, one word (and the space before it) at a time, `delayMs` apart: a stand-in for a model's tokens. */
export async function* tell(sentences: readonly string[] = story, delayMs = 60): AsyncGenerator<string> {
  let first = true;
  for (const sentence of sentences) {
    for (const word of sentence.split(' ')) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      yield first ? word : ` ${word}`;
      first = false;
    }
  }
}

export default defineBot((bot) => {
  bot.command('story', () => tell(), { description: 'tell a short story, word by word' });
  echoBot(bot);
});
