// The files `switchboard init <name>` writes: a bot that runs as it is on the web sandbox, with
// a Telegram entry to uncomment, and a test written with switchboard/testing.

export interface ScaffoldVersions {
  /** The version range of switchboard the new bot depends on: the one that wrote it. */
  switchboard: string;
  /** tsx (runs the TypeScript test), typescript and @types/node: the ranges switchboard itself is built with. */
  devDependencies: Record<string, string>;
}

export function scaffoldFiles(name: string, versions: ScaffoldVersions): Record<string, string> {
  return {
    'package.json': `${JSON.stringify(packageJson(name, versions), null, 2)}\n`,
    'switchboard.yaml': config,
    'bot.ts': bot,
    'bot.test.ts': botTest,
    'tsconfig.json': `${JSON.stringify(tsconfig, null, 2)}\n`,
    '.gitignore': 'node_modules/\ndata/\n',
    'README.md': readme(name),
  };
}

function packageJson(name: string, versions: ScaffoldVersions) {
  return {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: {
      start: 'switchboard start --config switchboard.yaml',
      check: 'switchboard check --config switchboard.yaml',
      test: 'node --import tsx --test bot.test.ts',
      typecheck: 'tsc',
    },
    dependencies: { switchboard: versions.switchboard },
    devDependencies: versions.devDependencies,
  };
}

const tsconfig = {
  compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
  include: ['*.ts'],
};

const config = `# Switchboard configuration. \`npm run check\` validates it and prints every key with its
# default; \${NAME} reads the environment variable NAME.

bot: ./bot.ts

platforms:
  # A web chat page at http://127.0.0.1:3000/: try the bot in a browser, no account needed.
  - id: sandbox
    type: sandbox

  # Telegram: ask @BotFather for a token (/newbot), then
  #   TELEGRAM_BOT_TOKEN=123456:ABC... npm start
  # - id: tg
  #   type: telegram
  #   token: \${TELEGRAM_BOT_TOKEN}
  #   mode: polling
`;

const bot = `import { defineBot } from 'switchboard';

export default defineBot((bot) => {
  bot.command('ping', () => 'pong', { description: 'check that the bot is alive' });

  bot.on('message', (ctx) => {
    // In a group, answer only what is addressed to the bot.
    if (ctx.message.channel.type !== 'direct' && !ctx.message.mentionsBot) return;
    if (ctx.text.trim() !== '') ctx.reply(\`You said: \${ctx.text}\`);
  });
});
`;

const botTest = `import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createTestBot } from 'switchboard/testing';
import bot from './bot.js';

// The bot on Switchboard's real Telegram adapter, against a fake Telegram in this process.
const t = createTestBot(bot, { platform: 'telegram' });
after(() => t.stop());

test('/ping answers pong', async () => {
  const replies = await t.send('/ping');
  assert.equal(replies[0]?.text, 'pong');
});

test('a message in a direct chat is answered', async () => {
  const replies = await t.send('hello');
  assert.equal(replies[0]?.text, 'You said: hello');
});
`;

function readme(name: string): string {
  return `# ${name}

A chat bot on [Switchboard](https://www.npmjs.com/package/switchboard): one handler in \`bot.ts\`,
run on every platform listed in \`switchboard.yaml\`.

    npm install
    npm start        # then open http://127.0.0.1:3000/ and say /ping
    npm test         # bot.test.ts: the bot's answers, in-process, as Telegram would show them
    npm run typecheck

To run it on Telegram, uncomment the \`tg\` entry in \`switchboard.yaml\` and start it with
\`TELEGRAM_BOT_TOKEN=<token from @BotFather> npm start\`.
`;
}
