// Wires config -> adapters -> pipeline -> server; start and stop.

import type { Adapter, AdapterContext, AdapterDefinition } from '../adapter.js';
import type { Bot } from '../bot/bot.js';
import { createCallbackHooks } from '../callbacks/index.js';
import { redactConfig, type Config } from './config.js';
import { tuneCollector } from './collector.js';
import type { StageHooks } from '../pipeline/lifecycle.js';
import { createLogger, type Logger } from './logger.js';
import { createDownloader } from '../media/download.js';
import { MediaStore } from '../media/media.js';
import { Metrics } from './metrics.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { toJson } from '../pipeline/schema.js';
import { loadBot } from './bot-import.js';
import { HttpServer } from '../inbound/server.js';
import { sendLimitsOf, type LimitsConfig } from '../delivery/pacer.js';
import { perUserOf, UserLimits } from '../pipeline/limits.js';
import { LocalWindowCounter } from '../store/window-counter.js';
import type { Store } from '../store/index.js';
import { openStore } from '../store/open.js';
import { Supervisor, type ConnectionState, type SupervisedConnection } from '../inbound/supervisor.js';
import { Balancer } from '../cluster/balance.js';
import type { ClusterWork } from '../cluster/work-queue.js';
import { PromptRoute } from '../cluster/prompt-route.js';
import { openConsole, type OperatorConsole } from '../console/index.js';

export interface RuntimeOptions {
  logger?: Logger;
  store?: Store;
  /** The bot to run; by default the module named by `config.bot` is imported. */
  bot?: Bot;
  hooks?: StageHooks;
  definitions?: readonly AdapterDefinition[];
  /**
   * With a Redis store (several instances): `ingress` takes webhooks and connections and queues
   * events, `worker` handles queued events and sends replies, `all` (the default) both.
   */
  role?: Role;
  /** Set by create() with a Redis store: the queues shared by every instance. */
  work?: ClusterWork;
  /** The operator console; by default the one `config.console` asks for (none when it is off). */
  console?: OperatorConsole;
}

export type Role = 'all' | 'ingress' | 'worker';

type Shared = typeof import('../cluster/shared.js');

export class Runtime {
  readonly adapters: ReadonlyMap<string, Adapter>;
  readonly media: MediaStore;
  readonly server: HttpServer;
  readonly pipeline: Pipeline;
  readonly logger: Logger;
  readonly store: Store;
  readonly metrics = new Metrics();
  private readonly supervisors: Supervisor[] = [];
  /** Each platform's current connections by name (one per Discord shard), for /healthz and /readyz (webhook platforms have none). */
  readonly connections = new Map<string, Map<string, Supervisor>>();
  readonly console: OperatorConsole | undefined;
  private readonly contexts = new Map<string, AdapterContext>();
  private started = false;
  /** Set once every platform has started (routes mounted, connections opened, webhooks registered). */
  private running = false;
  private stopping: Promise<void> | undefined;
  private retrySweep: NodeJS.Timeout | undefined;
  readonly role: Role;
  /** The shared work queues, with a Redis store. */
  private readonly work: ClusterWork | undefined;
  /** This instance's connection leases, each platform's spread over the instances that hold connections. */
  private readonly balancer: Balancer;
  /** Base URL the server listens on, once started. */
  url = '';

  private constructor(
    readonly config: Config,
    private current: Bot,
    adapters: Map<string, Adapter>,
    options: RuntimeOptions & { definitions: readonly AdapterDefinition[] },
    /** With a shared store: pacing and the per-user counter through it. */
    shared?: Shared,
  ) {
    this.adapters = adapters;
    this.logger = options.logger ?? createLogger(config.log.level);
    this.store = options.store!;
    this.balancer = new Balancer(this.store.leases, config.cluster.leaseTtl, this.logger, { signals: this.store });
    // Instances sharing a store serve each other's media URLs (through it); one process, its own.
    this.media = new MediaStore({}, this.store.shared ? this.store : undefined);
    this.role = options.role ?? 'all';
    this.work = options.work;
    this.console = options.console;
    const hooks =
      options.hooks ??
      createCallbackHooks(config.callbacks, {
        logger: this.logger,
        metrics: this.metrics,
        configJson: toJson(redactConfig(config, options.definitions)),
        trace: this.console?.buffer,
        bot: (botId) => {
          const adapter = this.adapters.get(botId);
          return { id: botId, type: adapter?.type ?? 'unknown', selfId: adapter?.selfId };
        },
      });
    const limitOverrides = new Map(config.platforms.map((p) => [p.id, sendLimitsOf((p as { limits?: LimitsConfig }).limits)]));
    const perUser = perUserOf(config.limits?.perUser, config.platforms);
    this.pipeline = new Pipeline({ bot: current, adapters: this.adapters, store: this.store, logger: this.logger, metrics: this.metrics, hooks,
      dedupTtlMs: config.dedupTtl,
      maxInFlight: config.server.maxInFlight,
      work: this.work,
      sharedWaits: this.work && new PromptRoute(this.store, this.logger, config.cluster.stallTimeout),
      userLimits: perUser && new UserLimits(perUser, shared?.windowCounterFor(this.store) ?? new LocalWindowCounter(), this.metrics),
      limits: (botId) => {
        const override = limitOverrides.get(botId);
        return override === undefined ? this.adapters.get(botId)?.limits : override || undefined;
      },
      pacing: shared?.pacingFor(this.store),
      retryPolicy: { attempts: config.delivery.attempts, initialDelayMs: config.delivery.initialDelay, maxDelayMs: config.delivery.maxDelay, maxRetryAfterMs: config.delivery.maxRetryAfter },
      streams: { idleTimeoutMs: config.delivery.streamIdleTimeout, notice: config.delivery.streamNotice },
      download: createDownloader(this.media, { allowPrivateNetworks: config.media.allowPrivateNetworks, maxBytes: config.media.maxDownloadSize, timeoutMs: config.media.downloadTimeout }),
      trace: this.console?.buffer,
    });
    this.server = new HttpServer({
      media: this.media,
      logger: this.logger,
      metrics: this.metrics,
      health: () => this.health(),
      readiness: () => this.readiness(),
      storeAvailable: () => this.store.available,
      retryAfterSeconds: Math.max(1, Math.ceil(config.server.retryAfter / 1000)),
      headersTimeoutMs: config.server.headersTimeout,
      requestTimeoutMs: config.server.requestTimeout,
    });
    this.watchStore();
  }

  /** The bot running now: the one loaded at start, or the last one `start --watch` reloaded. */
  get bot(): Bot {
    return this.current;
  }

  /**
   * Runs `bot` for every event whose handling starts from now on; those being handled finish with
   * the bot they started with. Platforms, their connections and the store are left as they are.
   */
  setBot(bot: Bot): void {
    this.current = bot;
    this.pipeline.setBot(bot);
  }

  /** The store's availability as a gauge, and a log line each time it changes (webhooks are refused meanwhile). */
  private watchStore(): void {
    const { store, logger } = this;
    this.metrics.describe('switchboard_store_available', 'Whether the store can record events now (1) or not (0: webhooks are answered 503, connections stop taking events)');
    this.metrics.gauge('switchboard_store_available', () => (store.available ? 1 : 0));
    store.onAvailability?.((available) => {
      if (available) logger.info({ store: store.description }, 'the store is available again; taking events');
      else logger.error({ store: store.description }, 'the store is unavailable: webhooks are answered 503 and connections take no events until it is back');
    });
  }

  static async create(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
    tuneCollector();
    // Every platform's definition unless told which (the CLI loads only those its config names).
    const definitions = options.definitions ?? (await import('./registry.js')).definitions;
    const adapters = await createAdapters(config, definitions);
    const bot = options.bot ?? (await loadBot(config.bot));
    const role = options.role ?? 'all';
    if (role !== 'all' && config.store.type !== 'redis') throw new Error(roleNeedsRedis(role, config.store.type));
    const store = options.store ?? (await openStore(config.store));
    const hub = options.console ?? openConsole(config, definitions);
    const logger = options.logger ?? createLogger(config.log.level, hub?.tap());
    const shared = store.shared || config.store.type === 'redis' ? await import('../cluster/shared.js') : undefined;
    if (config.store.type !== 'redis') return new Runtime(config, bot, adapters, { ...options, definitions, store, logger, console: hub }, shared);
    // Workers run the pipeline of the runtime made below; nothing is queued before it exists.
    let runtime: Runtime | undefined;
    const { partitions, stallTimeout } = config.cluster;
    const work = await shared!.ClusterWork.open({ url: config.store.url, prefix: config.store.prefix, commandTimeoutMs: config.store.commandTimeout, partitions, stallTimeoutMs: stallTimeout, store, logger, ingress: role !== 'worker',
      run: role === 'ingress' ? undefined : (event, resumed) => runtime!.pipeline.runQueued(event, resumed),
    }).catch(async (error: unknown) => {
      if (!options.store) await store.close();
      throw error;
    });
    runtime = new Runtime(config, bot, adapters, { ...options, definitions, store, logger, work, console: hub }, shared);
    return runtime;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { server: serverConfig } = this.config;
    const routers = new Map([...this.adapters.keys()].map((id) => [id, this.server.webhookRoutes(id)]));
    // What a crash left unfinished is queued first, before any route or connection can take a new
    // event of the same chat; it runs once the platforms are up to send its replies.
    let platformsUp!: () => void;
    const platformsStarted = new Promise<void>((resolve) => (platformsUp = resolve));
    // An ingress sends nothing: replies left over and dead letters to retry are a worker's.
    if (this.role !== 'ingress') await this.pipeline.resume(platformsStarted);
    const { port } = await this.server.listen(serverConfig.host, serverConfig.port);
    this.url = `http://${serverConfig.host.includes(':') ? `[${serverConfig.host}]` : serverConfig.host}:${port}`;
    const publicUrl = (serverConfig.publicUrl ?? this.url).replace(/\/+$/, '');
    this.media.baseUrl = publicUrl;
    this.console?.start(this, this.server.root);
    // Counted among the instances before taking a lease: a worker holds none.
    if (this.role !== 'worker') await this.balancer.start();
    const starting: Promise<void>[] = [];
    for (const adapter of this.adapters.values()) {
      const logger = this.logger.child({ platform: adapter.type, bot: adapter.id });
      const context: AdapterContext = {
        router: routers.get(adapter.id)!,
        rootRouter: this.server.root,
        // A worker takes no events: a webhook sent to it is answered 503, for the platform to try an ingress.
        dispatch: this.role === 'worker' ? async () => 'closed' : (event) => this.pipeline.dispatch(adapter.id, event),
        emit: this.role === 'worker' ? async () => 'closed' : (event, key) => this.pipeline.emit(adapter.id, event, key),
        intercept: (message, kind) => this.pipeline.intercept(message, kind),
        store: this.store,
        logger,
        media: this.media,
        supervise: (connection) => {
          // A worker holds no connection: its adapters are started only to send.
          if (this.role === 'worker') return new Supervisor(idle(connection), logger);
          // Held by one instance of all that share the store; the lease is named after the connection.
          const lease = this.balancer.lease(adapter.id, connection.name, logger);
          const supervisor = new Supervisor(connection, logger, undefined, lease);
          this.supervisors.push(supervisor);
          const held = this.connections.get(adapter.id) ?? new Map<string, Supervisor>();
          this.connections.set(adapter.id, held.set(connection.name, supervisor));
          return supervisor;
        },
        bodyLimit: serverConfig.bodyLimit,
        publicUrl,
        commands: () => this.bot.commandList,
      };
      this.contexts.set(adapter.id, context);
      starting.push(adapter.start(context));
    }
    // Side by side: a platform slow to connect or register holds up none of the others.
    try {
      await Promise.all(starting);
    } finally {
      platformsUp();
    }
    await this.work?.start();
    this.running = true;
    if (this.role !== 'ingress') this.retrySweep = setInterval(() => void this.pipeline.sendRetries(), retrySweepMs).unref();
    this.logger.info({ url: this.url, platforms: [...this.adapters.keys()], store: this.store.description, ...(this.work && { role: this.role }) }, 'switchboard started');
  }

  /**
   * The store, and every platform with the state of its connection where it has one and whether
   * this instance holds it (`standby`: another instance does); where it has several (Discord's
   * shards), each by name, and as the platform's the one furthest from up. "degraded" while the
   * store is unavailable or any connection is neither up nor on standby.
   */
  health(): Health {
    const store = { description: this.store.description, available: this.store.available };
    let status: 'ok' | 'degraded' = store.available ? 'ok' : 'degraded';
    const platforms = [...this.adapters.values()].map((adapter): PlatformHealth => {
      const held = [...(this.connections.get(adapter.id) ?? [])].map(([name, supervisor]) => ({ name, state: supervisor.state, held: supervisor.held }));
      if (held.length === 0) return { id: adapter.id, type: adapter.type };
      const connection = leastReady(held.map((c) => c.state));
      if (!settled(connection)) status = 'degraded';
      const holds = held.some((c) => c.held);
      return held.length === 1 ? { id: adapter.id, type: adapter.type, connection, held: holds } : { id: adapter.id, type: adapter.type, connection, held: holds, connections: held };
    });
    return this.work ? { status, store, platforms, work: { role: this.role, partitions: this.work.held } } : { status, store, platforms };
  }

  /**
   * Whether to send traffic here (/readyz): every platform started and every connection up, and not
   * shutting down. `waiting` names the connections that are not up (a standby is not waited for:
   * another instance holds that connection).
   */
  readiness(): Readiness {
    if (this.stopping) return { ready: false, status: 'shutting down', waiting: [] };
    const health = this.health();
    const waiting = health.platforms.filter((p): p is PlatformHealth & { connection: ConnectionState } => p.connection !== undefined && !settled(p.connection));
    if (!this.running) return { ready: false, status: 'starting', waiting };
    if (!health.store.available) return { ready: false, status: 'store unavailable', waiting };
    return waiting.length > 0 ? { ready: false, status: 'waiting for connections', waiting } : { ready: true, status: 'ready', waiting };
  }

  /** Stops one platform and starts it again with the same routes and context (e.g. after changing its credentials upstream). */
  async restartPlatform(id: string): Promise<void> {
    const adapter = this.adapters.get(id);
    const context = this.contexts.get(id);
    if (!adapter || !context) throw new Error(`no running platform with id "${id}"`);
    await adapter.stop();
    await adapter.start(context);
  }

  /** Stops taking new messages, finishes in-flight ones (up to server.shutdownTimeout), then closes everything. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  /**
   * Within server.shutdownTimeout: stop admitting, finish what can be finished, then close.
   * Whatever is not done by then stays in the store and is resumed by the next start.
   */
  private async shutdown(): Promise<void> {
    const deadline = Date.now() + this.config.server.shutdownTimeout;
    // Closing platforms and the store needs a moment of its own within the timeout.
    const closingMs = Math.min(2000, this.config.server.shutdownTimeout / 4);
    clearInterval(this.retrySweep);
    this.console?.stop();
    this.pipeline.close();
    this.server.stopAccepting();
    this.work?.stopTaking();
    await withinDeadline(Promise.all(this.supervisors.map((s) => s.stop())), deadline - closingMs);
    await this.balancer.stop();
    let left = await this.pipeline.drain(deadline - closingMs - Date.now());
    if (left > 0) {
      // Waits (backoff, pacing, Retry-After) end now; what is not delivered stays in the outbox.
      this.pipeline.abandon();
      left = await this.pipeline.drain(Math.min(250, closingMs / 2));
      this.logger.warn({ left }, 'shutdown timeout: unfinished messages stay in the store and are resumed by the next start');
    }
    // Jobs cut short went back to their queues; whatever still runs is taken over by another worker once its lock runs out.
    await this.work?.close(deadline - closingMs / 2);
    const stops = Promise.all([...this.adapters.values()].map((a) => a.stop().catch((error: unknown) => this.logger.error({ bot: a.id, err: error }, 'adapter stop failed'))));
    if (!(await withinDeadline(stops, deadline - 100))) this.logger.warn('some platforms did not finish stopping within the shutdown timeout');
    await this.server.close();
    await this.store.close();
    this.logger.info('switchboard stopped');
  }
}

/** The body of /healthz (a type, not an interface: the server takes any record). */
export type Health = {
  status: 'ok' | 'degraded';
  /** `description` is the store's own, with any password masked. */
  store: { description: string; available: boolean };
  platforms: PlatformHealth[];
  /** On a Redis store: this instance's role, and the work queue partitions whose worker runs here. */
  work?: { role: Role; partitions: string[] };
};

export interface PlatformHealth {
  id: string;
  type: string;
  connection?: ConnectionState;
  /** Whether this instance holds its connection (any of them, where it has several). */
  held?: boolean;
  /** Where a platform has several connections (Discord's shards): each one. */
  connections?: { name: string; state: ConnectionState; held: boolean }[];
}

/** The state furthest from up among a platform's connections: standby only when every one stands by. */
function leastReady(states: ConnectionState[]): ConnectionState {
  return (['failed', 'retrying', 'connecting', 'stopped', 'up'] as const).find((state) => states.includes(state)) ?? 'standby';
}

export interface Readiness {
  ready: boolean;
  status: 'ready' | 'starting' | 'store unavailable' | 'waiting for connections' | 'shutting down';
  waiting: (PlatformHealth & { connection: ConnectionState })[];
}

/** Up here, or held by another instance: nothing to wait for. */
function settled(state: ConnectionState): boolean {
  return state === 'up' || state === 'standby';
}

/** Why a role other than `all` cannot start with this store. */
export function roleNeedsRedis(role: Role, store: string): string {
  return `--role ${role} is for several instances sharing one Redis store: set store.type: redis (this config's store is ${store}), or leave --role out`;
}

/** A connection a worker does not open (an ingress holds it): the adapter's session is never run. */
function idle(connection: SupervisedConnection): SupervisedConnection {
  return { name: connection.name, session: ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })) };
}

/** How often the outbox is looked at for dead letters an operator asked to retry. */
const retrySweepMs = 2000;

/** True when `work` settled before `deadline` (a time in ms); it is not cancelled otherwise, only no longer waited for. */
async function withinDeadline(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
  const done = await Promise.race([work.then(() => true, () => true), expired]);
  clearTimeout(timer);
  return done;
}

/** One adapter per configured platform; a platform's module is loaded here, on first use. */
async function createAdapters(config: Config, definitions: readonly AdapterDefinition[]): Promise<Map<string, Adapter>> {
  const byType = new Map(definitions.map((d) => [d.type, d]));
  const adapters = new Map<string, Adapter>();
  for (const platform of config.platforms) {
    const definition = byType.get(platform.type);
    if (!definition) throw new Error(`no adapter for platform type "${platform.type}"`);
    adapters.set(platform.id, await definition.create(platform));
  }
  return adapters;
}
