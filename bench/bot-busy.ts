// A CPU-bound echo for the scale-out rows: `/echo <text>` answers <text> after a fixed amount of
// work on the main thread (PBKDF2 rounds, as rendering or parsing a reply would cost), so the
// instances' CPU, not the driver, the fake API or Redis, bounds the throughput (BUSY_ROUNDS,
// default 4000: about 0.8 ms on the bench machine).
import { pbkdf2Sync } from 'node:crypto';
import { defineBot } from 'switchboard';

const rounds = Number(process.env.BUSY_ROUNDS ?? 4000);

export default defineBot((bot) => {
  bot.command('echo <text:rest>', (ctx) => {
    pbkdf2Sync(ctx.args.text, 'switchboard', rounds, 8, 'sha256');
    return ctx.args.text;
  });
});
