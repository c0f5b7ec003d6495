// Shared plumbing for a system under test running in its own process: read the environment,
// announce the port, and report peak RSS when the driver asks it to stop.

import { existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const env = {
  apiRoot: process.env.API_ROOT!,
  token: process.env.TOKEN!,
  secret: process.env.SECRET!,
};

/** `files`: the on-disk files whose size the soak reports beside the memory (a database and its WAL). */
export function ready(port: number, files: readonly string[] = []): void {
  // The driver asks for CPU time before and after the measured run: CPU per request, whatever the scheduling.
  process.on('SIGUSR2', async () => {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`cpu ${user + system}\n`);
    // Under --expose-gc (the soak) also the memory left after a full collection; never in the timed rows.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) return;
    // The driver has just closed its connections: their teardown and the last replies' bookkeeping
    // settle first, and a second collection takes what the first only released (weak and flushed
    // things), so a checkpoint measures what stays, not what was on its way out.
    await new Promise((resolve) => setTimeout(resolve, 250));
    for (let i = 0; i < 2; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
    const onDisk = files.reduce((sum, file) => sum + (existsSync(file) ? statSync(file).size : 0), 0);
    process.stdout.write(`mem ${rss} ${heapUsed} ${heapTotal} ${external} ${arrayBuffers} ${onDisk}\n`);
  });
  process.once('SIGTERM', () => {
    process.stdout.write(`rss ${process.resourceUsage().maxRSS * 1024}\n`);
    process.exit(0);
  });
  // Only now: the driver may signal the moment it reads this line, before another line here would run.
  process.stdout.write(`ready ${port}\n`);
}

/**
 * The hand-written systems' webhook (sut-limit*.ts): 404 off the route, 401 without the secret
 * header, else the body read whole and given to `take` as text; `take` answers `res`.
 */
export function webhookByHand(req: IncomingMessage, res: ServerResponse, take: (body: string) => void): void {
  if (req.method !== 'POST' || req.url !== '/webhooks/tg') return void res.writeHead(404).end();
  if (req.headers['x-telegram-bot-api-secret-token'] !== env.secret) {
    req.resume();
    return void res.writeHead(401).end();
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => take(Buffer.concat(chunks).toString('utf8')));
}
