// `npm run bench [-- --rounds R --requests N --concurrency C --warmup W --startup-runs S --quick --json file]`:
// (`npm run bench -- --soak [--soak-messages N | --soak-checkpoints 1000,2000,3000] [--soak-limits]`: the memory soak alone, bench/soak.ts)
// the same Telegram webhook echo through Switchboard and its baselines, each a fresh process per
// run, interleaved in rounds; the hand-written limit; the store and Redis rows; callback overhead
// per stage; extra rows from `producers`; then start-up times. How to read it: bench/README.md.

import { cpus } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { redisUrl } from '../test/redis.js';
import { EchoBench, redisAnswers, type System } from './echo.js';
import { benchFile, launch } from './launch.js';
import { consoleToken, watchConsole } from './console-client.js';
import { ratio, spreadOf, type Row, type RowProducer } from './row.js';
import { gatewayRows, printGatewayRows } from './gateway.js';
import { inboundRows } from './inbound.js';
import { startupRows } from './startup.js';
import { printSoak, soak, soakCheckpoints } from './soak.js';
import { printStream, streamBench } from './stream.js';
import { formatSpread, signed, startupLine, tableHeader, tableLine, verdict } from './table.js';

/**
 * Extra row producers, run after the echo rounds and printed in their own part of the table:
 * each runs its own interleaved rounds (e.g. the gateway fan-in: `gatewayRows` from ./gateway.js).
 */
const producers: RowProducer[] = [inboundRows];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    requests: { type: 'string' },
    concurrency: { type: 'string', default: '32' },
    warmup: { type: 'string' },
    'startup-runs': { type: 'string' },
    json: { type: 'string' },
    soak: { type: 'boolean', default: false },
    'soak-messages': { type: 'string' },
    'soak-checkpoints': { type: 'string' },
    'soak-limits': { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const count = (name: string, value: string | undefined, fallback: number) => {
  const n = Number(value ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} expects a whole number above 0, got "${value}"`);
  return n;
};
const rounds = count('rounds', values.rounds, quick ? 1 : 5);
const load = { requests: count('requests', values.requests, quick ? 200 : 20_000), warmup: count('warmup', values.warmup, quick ? 50 : 2000), concurrency: count('concurrency', values.concurrency, 32) };
const startupRuns = count('startup-runs', values['startup-runs'], quick ? 1 : 5);

if (values.soak) {
  // The soak alone: one long run of one system, nothing else (bench/soak.ts).
  const checkpoints = values['soak-checkpoints']
    ? values['soak-checkpoints'].split(',').map((n) => count('soak-checkpoints', n, 0)).sort((x, y) => x - y)
    : soakCheckpoints(count('soak-messages', values['soak-messages'], 1_000_000));
  console.log(`Soak: ${checkpoints[checkpoints.length - 1]} Telegram webhook messages, ${load.concurrency} in flight, memory read at ${checkpoints.join(', ')}; node ${process.version}, ${cpus().length} cores.`);
  const result = await soak({ checkpoints, concurrency: load.concurrency, limits: values['soak-limits'] });
  printSoak(result, values['soak-limits']);
  if (values.json) await writeFile(values.json, `${JSON.stringify({ soak: result }, null, 2)}\n`);
  process.exit(0);
}

const names = {
  a: '(a) Switchboard (sqlite store, the default)',
  b: '(b) node-telegram-bot-api 2 + koa, as shipped',
  bUndici: '(b′) node-telegram-bot-api 2 + koa, undici client',
  c: '(c) grammY webhookCallback + koa',
  limit: '(limit) node:http + undici Pool, by hand',
  limitDurable: '(limit) the same + the SQLite writes of (a)',
  limitKoa: '(limit) the same + SQLite, behind koa + router',
  memory: '(a) Switchboard, memory store',
  full: '(a) Switchboard, sqlite sync: full',
  console: '(a) Switchboard, console open and subscribed',
  redisOne: '(e) Switchboard, redis store, 1 instance',
  redisTwo: '(e) Switchboard, redis store, 2 instances',
  busyOne: '(e) Switchboard, redis store, 1 instance, CPU-bound handler',
  busyTwo: '(e) Switchboard, redis store, 2 instances, CPU-bound handler',
};
// The scale-out rows' CPU-bound echo (bench/bot-busy.ts): about 2 ms of the handler's own CPU a
// message on the bench machine, so the instances, not the driver, the fake API or Redis, are what
// is busy; fewer requests, as each costs ten times the plain echo's.
const busy = { env: { STORE: 'redis', BOT: benchFile('bot-busy.ts'), BUSY_ROUNDS: '10000' }, load: quick ? {} : { requests: 3000, warmup: 500 } };

console.log(`Echo over a Telegram webhook: ${load.requests} requests, ${load.concurrency} in flight, after ${load.warmup} warm-up requests; node ${process.version}, ${cpus().length} cores; ${rounds} interleaved round(s), a fresh process per run.`);
const withRedis = await redisAnswers();
if (!withRedis) console.log(`No Redis answers at ${redisUrl} (set REDIS_URL): the redis rows are left out.`);
const systems: System[] = [
  { name: names.a, file: 'sut-switchboard.ts' },
  { name: names.b, file: 'sut-ntba.ts' },
  { name: names.bUndici, file: 'sut-ntba.ts', env: { CLIENT: 'undici' } },
  { name: names.c, file: 'sut-grammy.ts' },
  { name: names.limit, file: 'sut-limit.ts' },
  { name: names.limitDurable, file: 'sut-limit-durable.ts' },
  { name: names.limitKoa, file: 'sut-limit-durable.ts', env: { FRONT: 'koa' } },
  { name: names.memory, file: 'sut-switchboard.ts', env: { STORE: 'memory' } },
  { name: names.full, file: 'sut-switchboard.ts', env: { STORE: 'sqlite-full' } },
  { name: names.console, file: 'sut-switchboard.ts', env: { CONSOLE_TOKEN: consoleToken }, alongside: (targets) => watchConsole(targets[0]!, consoleToken) },
  ...(withRedis
    ? [
        { name: names.redisOne, file: 'sut-switchboard.ts', env: { STORE: 'redis' } },
        { name: names.redisTwo, file: 'sut-switchboard.ts', env: { STORE: 'redis' }, instances: 2 },
        { name: names.busyOne, file: 'sut-switchboard.ts', ...busy },
        { name: names.busyTwo, file: 'sut-switchboard.ts', ...busy, instances: 2 },
      ]
    : []),
];

// Run order within a round: each system a verdict pairs with (a) runs next to it, the verdicts with
// the least margin nearest, so a host's drift has the least time to come between the two runs of a
// pair (on a shared machine the CPU a message costs moved 40% within minutes). Printed in the order above.
const pairedWithA = [names.bUndici, names.limit, names.a, names.memory, names.console, names.c];
const runOrder = [...systems].sort((x, y) => rank(x.name) - rank(y.name));
function rank(name: string): number {
  const paired = pairedWithA.indexOf(name);
  return paired >= 0 ? paired - pairedWithA.length : systems.findIndex((system) => system.name === name);
}

const bench = await EchoBench.start(load);
const ran = await bench.rounds(runOrder, rounds);
const compared = systems.map((system) => ran.find((r) => r.name === system.name)!);
const row = (name: string) => compared.find((r) => r.name === name);
const [a, b, bUndici, c, limit, memory] = [names.a, names.b, names.bUndici, names.c, names.limit, names.memory].map((name) => row(name)!) as [Row, Row, Row, Row, Row, Row];
// Measured once each, after the rounds: compared with (a)'s median, not round by round.
const single: Row[] = [];
const callbackRows: Row[] = [];
if (!quick) {
  single.push(await bench.once({ name: '(a) Switchboard, info logs', file: 'sut-switchboard.ts', env: { LOG_LEVEL: 'info' } }));
  const sink = await launch('callback-sink.ts', {});
  const sinkUrl = `http://127.0.0.1:${sink.port}`;
  for (const stages of ['onMessage', 'onPreSend', 'onResult', 'onSent', 'onMessage,onPreSend,onResult,onSent'])
    callbackRows.push(await bench.once({ name: `(d) Switchboard + ${stages.includes(',') ? 'all four stages' : stages}`, file: 'sut-switchboard.ts', env: { CALLBACK_URL: sinkUrl, STAGES: stages } }));
  await sink.stop();
}
await bench.close();
const extra: Row[] = [];
for (const produce of producers) extra.push(...(await produce({ rounds, quick })));
// Gateway fan-in: a Discord firehose into Switchboard and into a bare discord.js client, interleaved.
const gateway = await gatewayRows({ rounds, quick, messages: quick ? 2000 : undefined });
// One streamed reply into a Telegram group: the calls Telegram gets, and the CPU per chunk.
const streamed = await streamBench(quick ? { tokens: 200, tokensPerSecond: 200 } : { tokens: 2000, tokensPerSecond: 50 });
const startup = await startupRows(startupRuns, quick);

console.log('');
console.log(tableHeader);
for (const r of [...compared, ...single, ...callbackRows]) console.log(tableLine(r, limit));
if (extra.length > 0) {
  console.log('');
  console.log('Inbound verify + dedup per platform (signed requests, a handler that does not reply, sqlite store), against bare node:http:');
  console.log(tableHeader);
  // A producer's "(limit)" row is its ceiling: the others' share of it, round by round.
  const ceiling = extra.find((r) => r.name.startsWith('(limit)'));
  for (const r of extra) console.log(tableLine(r, ceiling));
}
console.log('');
console.log('Gateway fan-in (no replies), messages reaching the handler:');
printGatewayRows(gateway);
console.log('');
printStream(streamed);
console.log('');
console.log(`Verdicts: per-round ratios, median (min–max) over ${rounds} round(s):`);
console.log(verdict('a/b′ (same undici client)', ratio(a, bUndici), 1.15));
console.log(verdict('a/c (grammY + koa)', ratio(a, c), 1.3));
console.log(verdict('a/limit', ratio(a, limit), 0.6));
console.log(`For reference, not verdicts: a/b (as shipped, WHATWG fetch) = ${formatSpread(ratio(a, b), 2)}; b′/b = ${formatSpread(ratio(bUndici, b), 2)} (the HTTP client alone).`);
const [durable, koa] = [row(names.limitDurable)!, row(names.limitKoa)!];
console.log(
  `Where a's share of the limit goes, msg/s: the SQLite writes alone take the limit to ${formatSpread(ratio(durable, limit), 2)} of itself (koa + router in front would take it to ${formatSpread(ratio(koa, limit), 2)}; a's webhooks are served without them); a is ${formatSpread(ratio(a, durable), 2)} of the SQLite row (its pipeline, handler, outbox, Telegram adapter).`,
);
const cpu = (row: Row, reference: Row) => formatSpread(ratio(row, reference, (s) => s.cpuMicrosPerMessage), 2);
console.log(`CPU per message, less noisy than msg/s on a shared machine: a/b′ = ${cpu(a, bUndici)}, a/c = ${cpu(a, c)}, a/limit = ${cpu(a, limit)} (below 1: a spends less).`);
console.log(verdict('sqlite/memory', ratio(a, memory), 0.8) + `; p99 ${spreadOf(a, (s) => s.p99Ms).median.toFixed(2)} ms against ${spreadOf(memory, (s) => s.p99Ms).median.toFixed(2)} ms`);
console.log('(a) records every event, its journal and its replies in SQLite before answering; the memory row keeps them in memory only (lost on a crash).');
console.log(verdict('console open/a (its live feed read by a client, as a browser tab would)', ratio(row(names.console)!, a), 0.95) + `; CPU per message ${cpu(row(names.console)!, a)}; the console's buffer holds at most 1000 messages × 32 KB of bodies and log lines (≈ 34 MB with bookkeeping), see docs/console.md`);
if (withRedis) {
  const one = row(names.redisOne)!;
  const cores = cpus().length;
  console.log(verdict(`redis, 2 instances / 1 instance, CPU-bound handler (on ${cores} cores, the driver, fake API and Redis included)`, ratio(row(names.busyTwo)!, row(names.busyOne)!), 1.3));
  console.log(`For reference, not a verdict: the plain echo, 2 instances / 1 instance = ${formatSpread(ratio(row(names.redisTwo)!, one), 2)} (on ${cores} cores its driver, fake API and Redis spend about as much CPU a message as the instance: one instance already keeps the machine near full)`);
  console.log(`redis / sqlite, 1 instance = ${formatSpread(ratio(one, a), 2)}`);
}
console.log('(a) runs with log level warn, as (b) and (c) log nothing per message; the "info logs" row has one JSON line per message.');
if (callbackRows.length > 0) {
  console.log('');
  console.log('Callback overhead per stage, against (a)\'s median. Our own work is the CPU column: building, signing and sending the payload and reading the reply.');
  console.log('The latency and req/s columns also carry the sink: a process of its own answering 204 at once, on the same cores as everything else.');
  const median = (r: Row, pick: (s: Row['samples'][number]) => number) => spreadOf(r, pick).median;
  for (const r of callbackRows)
    console.log(
      `  ${r.name.replace('(d) Switchboard + ', '').padEnd(16)} ${signed(median(r, (s) => s.cpuMicrosPerMessage) - median(a, (s) => s.cpuMicrosPerMessage), 0).padStart(5)} µs CPU per message, ${signed(median(r, (s) => s.p50Ms) - median(a, (s) => s.p50Ms), 1)} ms p50, ${signed((median(r, (s) => s.rps) / median(a, (s) => s.rps) - 1) * 100, 1)}% req/s`,
    );
} else console.log('--quick: the info-logs and callback rows are left out, and the reference and npm start rows of start-up.');
console.log('');
console.log(`Start-up, measured only: ms from spawn, median (min–max) of ${startupRuns} run(s), interleaved:`);
for (const r of startup) console.log(startupLine(r));

if (values.json) await writeFile(values.json, `${JSON.stringify({ load, rounds, rows: [...compared, ...single, ...callbackRows], extra, gateway, streamed, startup }, null, 2)}\n`);
