// startSwitchboard: the real runtime from YAML text, in this process, for end-to-end tests against the wire fakes.

import { pino } from '../src/runtime/pino.js';
import type { AdapterDefinition } from '../src/adapter.js';
import type { Bot } from '../src/index.js';
import { parseConfig } from '../src/runtime/config.js';
import { definitions as registry } from '../src/runtime/registry.js';
import { Runtime } from '../src/runtime/runtime.js';

export interface StartOptions {
  /** The bot to run; without it, the module the config's `bot:` names is imported. */
  bot?: Bot;
  /** What `${VAR}` in the config reads; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Log level; `silent` by default, so a test's output stays its own. */
  logLevel?: 'silent' | 'error' | 'warn' | 'info' | 'debug';
  /** How long to wait for every platform connection (a poll, a gateway session) to be up; 10 s by default. */
  readyTimeoutMs?: number;
  /** @internal createTestBot's adapters, which report each handled message. */
  definitions?: readonly AdapterDefinition[];
}

export interface RunningSwitchboard {
  /** Where it listens: webhooks at `${url}/webhooks/<platform id>`, /healthz, /readyz. */
  readonly url: string;
  /** The running Runtime: `store`, `pipeline`, `health()`. */
  readonly runtime: Runtime;
  /** Stops it as a SIGTERM would: in-flight messages finish first. */
  stop(): Promise<void>;
}

/**
 * Starts Switchboard from config text as `switchboard start --config` would, in this process.
 * Unlike the CLI's defaults, it listens on a free port of 127.0.0.1 unless the config has `server:`,
 * and keeps its store in memory unless the config has `store:`. Resolves once it is ready (what
 * /readyz says): every platform started and its connection up, so a message pushed now is taken.
 *
 * ```ts
 * const fake = new FakeTelegram();
 * await fake.start();
 * const sb = await startSwitchboard(`platforms: [{ id: tg, type: telegram, token: "${fake.token}", apiRoot: "${fake.url}" }]`, { bot });
 * ```
 */
export async function startSwitchboard(config: string, options: StartOptions = {}): Promise<RunningSwitchboard> {
  const definitions = options.definitions ?? registry;
  const parsed = parseConfig(config, { definitions, env: options.env ?? process.env, source: 'startSwitchboard', baseDir: process.cwd() });
  if (!/^\s*server:/m.test(config)) parsed.server = { ...parsed.server, host: '127.0.0.1', port: 0 };
  if (!/^\s*store:/m.test(config)) parsed.store = { type: 'memory' };
  const runtime = await Runtime.create(parsed, { bot: options.bot, logger: pino({ level: options.logLevel ?? 'silent' }), definitions });
  try {
    await runtime.start();
    await ready(runtime, options.readyTimeoutMs ?? 10_000);
  } catch (error) {
    await runtime.stop();
    throw error;
  }
  return { url: runtime.url, runtime, stop: () => runtime.stop() };
}

async function ready(runtime: Runtime, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const readiness = runtime.readiness();
    if (readiness.ready) return;
    if (Date.now() > deadline) throw new Error(`startSwitchboard: not ready after ${timeoutMs} ms (${readiness.status}: ${readiness.waiting.map((p) => `${p.id} ${p.connection}`).join(', ')})`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
