// The operator console (docs/console.md): what the running Switchboard does, live, at /console.
// Off unless the config turns it on; then the pipeline gets its event buffer as its Trace, the
// logger a second stream into that buffer, and the server its routes.

import type Router from '@koa/router';
import { pino, type DestinationStream } from '../runtime/pino.js';
import type { Adapter, AdapterDefinition } from '../adapter.js';
import type { Supervisor } from '../inbound/supervisor.js';
import type { Logger } from '../runtime/logger.js';
import type { Metrics } from '../runtime/metrics.js';
import { redactConfig, toYaml, type Config } from '../runtime/config.js';
import type { Store } from '../store/index.js';
import { ConsoleAuth, oneTimeToken } from './auth.js';
import { EventBuffer } from './buffer.js';
import type { ConsoleConfig } from './config.js';
import { Numbers } from './numbers.js';
import { mountConsole } from './routes.js';

/** What the console reads and acts on: the Runtime. */
export interface ConsoleHost {
  readonly url: string;
  readonly store: Store;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly adapters: ReadonlyMap<string, Adapter>;
  /** Each platform's connections by name. */
  readonly connections: ReadonlyMap<string, ReadonlyMap<string, Supervisor>>;
}

export interface ConsoleOptions {
  /** How often the counters are sampled for the charts (10 s; tests take less). */
  sampleMs?: number;
  /** Reached over HTTPS (server.publicUrl): the session cookie is Secure. */
  https?: boolean;
}

export class OperatorConsole {
  readonly buffer: EventBuffer;
  readonly auth: ConsoleAuth;
  private checkedText: string | undefined;
  private readonly oneTime: string | undefined;
  private numbers: Numbers | undefined;

  constructor(
    readonly config: ConsoleConfig,
    private readonly redacted: unknown,
    private readonly options: ConsoleOptions = {},
  ) {
    this.buffer = new EventBuffer({ capacity: config.events, eventBytes: config.eventBytes });
    this.oneTime = config.token === undefined ? oneTimeToken() : undefined;
    this.auth = new ConsoleAuth(config.token ?? this.oneTime!, Date.now, options.https);
  }

  /** What `switchboard check` prints for the running config: every secret masked. YAML is loaded when an operator first asks. */
  get checked(): string {
    return (this.checkedText ??= `# valid. Resolved config, secrets masked:\n${toYaml(this.redacted)}`);
  }

  /**
   * The logger's destination with the console's tap: every line (serialized and redacted by pino
   * already) still goes to `destination` (stdout by default); a line of an event is also kept with it.
   */
  tap(destination: DestinationStream = pino.destination({ dest: 1, sync: true })): DestinationStream {
    const { buffer } = this;
    return {
      write(line: string) {
        destination.write(line);
        if (!line.includes('"event":"')) return;
        let event: unknown;
        try {
          event = (JSON.parse(line) as { event?: unknown }).event;
        } catch {
          return;
        }
        if (typeof event === 'string') buffer.log(event, line);
      },
    };
  }

  /** Mounts the routes on the server's root router (requests are matched against it live) and starts sampling. */
  start(host: ConsoleHost, router: Router): void {
    this.numbers = new Numbers(host.metrics, this.options.sampleMs);
    this.numbers.start();
    mountConsole(router, { console: this, host, numbers: this.numbers });
    // Printed once, for the person who started it: the only place this token is ever shown.
    if (this.oneTime) host.logger.info(`operator console (this machine only): ${host.url}/console/login?token=${this.oneTime}`);
  }

  stop(): void {
    this.numbers?.stop();
  }
}

/** The console the config asks for, or undefined (the pipeline then traces nothing). */
export function openConsole(config: Config, definitions: readonly AdapterDefinition[], options?: ConsoleOptions): OperatorConsole | undefined {
  if (!config.console) return undefined;
  return new OperatorConsole(config.console, redactConfig(config, definitions), { https: config.server.publicUrl?.startsWith('https:'), ...options });
}
