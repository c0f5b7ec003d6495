// YAML + ${ENV} interpolation + zod schema -> typed Config. Every mistake is reported with its
// path in the file (and line, when the file has one) and what was expected.

import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Document, LineCounter } from 'yaml';
import { z } from 'zod';
import type { AdapterDefinition, PlatformConfigBase } from '../adapter.js';
import { limitsSchemaFor, type LimitsConfig } from '../delivery/pacer.js';
import { callbacksSchema } from '../callbacks/config.js';
import { consoleSchema } from '../console/config.js';
import { topLimitsSchema } from '../pipeline/limits.js';
import { defaultRetryPolicy } from '../delivery/retry.js';
import { defaultStreamSettings } from '../delivery/stream.js';
import { storeSchema } from '../store/open.js';
import { keysAt, keysFrom, nearest, valueAt } from './config-hints.js';
import { requireCommonJs } from './require-commonjs.js';
import { redact, shapedBy } from './secret.js';
import { byteSize, duration, httpUrl } from './units.js';

// Run from source this module is config.ts next to bots/echo.ts; compiled (dist/), config.js next to echo.js.
export const builtinBot = fileURLToPath(new URL(`../../bots/echo${extname(import.meta.url)}`, import.meta.url));

const serverSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(3000),
  /** How the outside world reaches this server; defaults to http://host:port. */
  publicUrl: httpUrl.optional(),
  bodyLimit: byteSize.default(1024 * 1024),
  /** How long shutdown waits for in-flight messages. */
  shutdownTimeout: duration.default(10_000),
  /** Messages handled at once; past it, new deliveries wait for a slot (platforms see a slower answer, nothing is lost). */
  maxInFlight: z.number().int().min(1).default(1000),
  /** What a 503 tells a platform (Retry-After) when Switchboard cannot take work: shutting down, or the store cannot record it. */
  retryAfter: duration.default(5000),
  /** How long a client may take to send a request's headers; a slower one is cut off (408), so slow senders cannot hold connections open. */
  headersTimeout: duration.pipe(z.number().min(1, 'expected a duration above 0')).default(10_000),
  /** How long a client may take to send a whole request, body included. */
  requestTimeout: duration.pipe(z.number().min(1, 'expected a duration above 0')).default(30_000),
}).refine((server) => server.headersTimeout <= server.requestTimeout, { path: ['headersTimeout'], message: 'must not be longer than requestTimeout (the headers are part of the request)' });

const mediaSchema = z.strictObject({
  /** Whether ctx.download may fetch URLs on loopback or private networks (off: a user cannot make the bot probe your LAN). */
  allowPrivateNetworks: z.boolean().default(false),
  maxDownloadSize: byteSize.default(20 * 1024 * 1024),
  downloadTimeout: duration.default(10_000),
});

const deliverySchema = z.strictObject({
  /** Tries of one reply item in all; past them it is kept as a dead letter. */
  attempts: z.number().int().min(1).max(100).default(defaultRetryPolicy.attempts),
  /** The first backoff's cap; it doubles per failure (with full jitter) up to maxDelay. */
  initialDelay: duration.default(defaultRetryPolicy.initialDelayMs),
  maxDelay: duration.default(defaultRetryPolicy.maxDelayMs),
  /** A platform asking to wait longer than this (Retry-After, retry_after) is not waited for: the item becomes a dead letter. */
  maxRetryAfter: duration.default(defaultRetryPolicy.maxRetryAfterMs),
  /** A streamed reply that yields nothing for this long is ended, with streamNotice appended (docs/streaming.md). */
  streamIdleTimeout: duration.pipe(z.number().min(1, 'expected a duration above 0')).default(defaultStreamSettings.idleTimeoutMs),
  /** Appended to what a user was shown of a streamed reply that failed or stalled. */
  streamNotice: z.string().min(1).default(defaultStreamSettings.notice),
});

/** Several instances on one Redis store (docs/scaling.md); ignored by the embedded stores, which serve one process. */
const clusterSchema = z.strictObject({
  /** Work queues the chats are spread over: a chat always lands on the same one, which handles one message at a time. */
  partitions: z.number().int().min(1).max(1024).default(16),
  /** How long the instance holding a connection (a poller, a gateway shard) may go silent before another takes it over. */
  leaseTtl: duration.pipe(z.number().min(1000, 'expected at least 1s')).default(15_000),
  /** How long a worker may go silent on a message before another worker finishes it. */
  stallTimeout: duration.pipe(z.number().min(1000, 'expected at least 1s')).default(15_000),
});

const logSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface ConfigIssue {
  /** e.g. "platforms[0].token" */
  path: string;
  line?: number;
  /** Given where it helps find the spot: a YAML syntax error. */
  column?: number;
  message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${source}: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`);
  }
}

function formatIssue(issue: ConfigIssue): string {
  const at = issue.line ? `line ${issue.line}${issue.column ? `, column ${issue.column}` : ''}` : '';
  if (!issue.path) return `${at || '(top level)'}: ${issue.message}`;
  return `${issue.path}${at ? ` (${at})` : ''}: ${issue.message}`;
}

/**
 * A config is parsed once per process: zod's compiled fast path for an object schema (generated
 * code, made on its first parse) costs a start more than that one parse saves.
 */
const parseOnce = { reportInput: true, error: describe, jitless: true } as const;

/**
 * The schema for these platform definitions, built once per list: validating the config and
 * masking it (for callbacks and the console) would otherwise build it three times at start, a few
 * ms each.
 */
export function configSchema(definitions: readonly AdapterDefinition[]): ReturnType<typeof buildConfigSchema> {
  let schema = schemas.get(definitions);
  if (!schema) schemas.set(definitions, (schema = buildConfigSchema(definitions)));
  return schema;
}

const schemas = new WeakMap<readonly AdapterDefinition[], ReturnType<typeof buildConfigSchema>>();

function buildConfigSchema(definitions: readonly AdapterDefinition[]) {
  const types = definitions.map((d) => d.type);
  const byType = new Map(definitions.map((d) => [d.type, d.configSchema]));
  const platformSchema = shapedBy(z
    .looseObject(
      { id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'use letters, digits, "-" or "_" (it names routes and logs)'), type: z.string() },
      { error: (issue) => (issue.code === 'invalid_type' ? `expected a platform: a mapping with its id and type, like { id: tg, type: telegram, token: … }; got ${typeName(issue.input)}` : undefined) },
    )
    .transform((value, ctx) => {
      const schema = byType.get(value.type);
      if (!schema) {
        ctx.addIssue({ code: 'custom', path: ['type'], message: `unknown platform type "${value.type}"; expected one of: ${types.join(', ')}` });
        return z.NEVER;
      }
      // `limits` is the core's key on every platform (the pacing), not the adapter's.
      const { limits, ...own } = value as typeof value & { limits?: unknown };
      const parsed = schema.safeParse(own, parseOnce);
      const paced = limits === undefined ? undefined : limitsSchemaFor(limits).safeParse(limits, parseOnce);
      if (parsed.success && (paced === undefined || paced.success)) return { ...parsed.data, ...(paced ? { limits: paced.data } : {}) } as PlatformConfigBase & { limits?: LimitsConfig };
      // Re-raised in place (zod prefixes the path), keeping each issue's code (unknown keys are told one by one).
      if (!parsed.success) for (const issue of parsed.error.issues) ctx.addIssue({ ...issue } as never);
      if (paced && !paced.success) for (const issue of paced.error.issues) ctx.addIssue({ ...issue, path: ['limits', ...issue.path] } as never);
      return z.NEVER;
    }), (value) => byType.get((value as { type?: string }).type ?? ''));
  // A platform takes the keys of its type's schema, and `limits`.
  keysFrom(platformSchema, (value) => {
    const schema = byType.get((value as { type?: string } | undefined)?.type ?? '');
    return schema ? [schema, platformLimits] : [];
  });
  return z
    .strictObject({
      server: serverSchema.default(serverSchema.parse({}, parseOnce)),
      log: logSchema.default(logSchema.parse({}, parseOnce)),
      media: mediaSchema.default(mediaSchema.parse({}, parseOnce)),
      /** Where events, replies and dedup keys are kept: a SQLite file by default. */
      store: storeSchema.default(storeSchema.parse({ type: 'sqlite' }, parseOnce)),
      delivery: deliverySchema.default(deliverySchema.parse({}, parseOnce)),
      cluster: clusterSchema.default(clusterSchema.parse({}, parseOnce)),
      bot: z.string().min(1).default(builtinBot),
      /** How long a platform's event id is remembered to drop redeliveries. */
      dedupTtl: duration.default(3_600_000),
      platforms: z.array(platformSchema).min(1, 'configure at least one platform (type: sandbox needs no credentials)'),
      /** Outbound HTTP callbacks per lifecycle stage; see docs/callbacks.md. */
      callbacks: callbacksSchema.default({}),
      /** Per-user limits for every platform (docs/limits.md); a platform's own `limits.perUser` wins. */
      limits: topLimitsSchema.optional(),
      /** The operator console at /console (docs/console.md); off unless set. */
      console: consoleSchema.optional(),
    })
    .superRefine((config, ctx) => {
      const seen = new Set<string>();
      config.platforms.forEach((p, i) => {
        if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: ['platforms', i, 'id'], message: `duplicate id "${p.id}"; every platform needs its own id` });
        seen.add(p.id);
      });
      for (const [stage, callback] of Object.entries(config.callbacks)) {
        if (typeof callback !== 'object') continue; // the budget
        callback.platforms?.forEach((id, i) => {
          if (!seen.has(id)) ctx.addIssue({ code: 'custom', path: ['callbacks', stage, 'platforms', i], message: `no platform has the id "${id}"; use one of: ${[...seen].join(', ')}` });
        });
      }
    });
}

const platformLimits = z.object({ limits: limitsSchemaFor({}) });

export type Config = z.output<ReturnType<typeof buildConfigSchema>>;

export interface LoadOptions {
  definitions: readonly AdapterDefinition[];
  env?: NodeJS.ProcessEnv;
}

/** A copy of the config with every field its schema marks secret masked: for `check`, callback payloads and logs. */
export function redactConfig(config: Config, definitions: readonly AdapterDefinition[]): Config {
  return redact(config, configSchema(definitions));
}

/** Reads and validates a config file. Throws ConfigError listing every problem. */
export async function loadConfig(path: string, options: LoadOptions): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(path, [{ path: '', message: `cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)})` }]);
  }
  return parseConfig(text, { ...options, source: path, baseDir: dirname(resolve(path)) });
}

/**
 * The platform types a config file names, read ahead of loadConfig to load only their schemas;
 * undefined when the file cannot tell (unreadable, not YAML, a type that is not a plain string):
 * loadConfig then reports what is wrong, against every type.
 */
export async function platformTypesIn(path: string): Promise<string[] | undefined> {
  try {
    const document = yaml().parse(await readFile(path, 'utf8')) as { platforms?: unknown } | null;
    if (!Array.isArray(document?.platforms)) return undefined;
    const types = document.platforms.map((p: unknown) => (isRecord(p) ? p.type : undefined));
    return types.every((type): type is string => typeof type === 'string') ? types : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The config used when no file is given: the example bot on the sandbox, and the console for whoever
 * runs it on their own machine (127.0.0.1 only, a one-time login link in the log). No YAML to parse:
 * `npm start` does not load the parser.
 */
export function defaultConfig(options: LoadOptions): Config {
  return validateConfig({ platforms: [{ id: 'sandbox', type: 'sandbox' }], console: { localOnly: true } }, () => undefined, { ...options, source: '(built-in default)', baseDir: process.cwd() });
}

/** The YAML parser, loaded when there is a file to parse (synchronously: parseConfig is). */
const yaml = () => requireCommonJs<typeof import('yaml')>('yaml');

/** A value (a redacted config, for `check` and the console) as YAML text. */
export function toYaml(value: unknown): string {
  return yaml().stringify(value);
}

export function parseConfig(text: string, options: LoadOptions & { source: string; baseDir: string }): Config {
  const { LineCounter, parseDocument } = yaml();
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const lineOf = (path: readonly PropertyKey[]) => nodeLine(doc, lines, path);
  if (doc.errors.length > 0) {
    throw new ConfigError(
      options.source,
      doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return { path: '', line, column: col, message: `not valid YAML: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  return validateConfig(doc.toJS() ?? {}, lineOf, options);
}

/** The config in `document` (parsed YAML), its \${NAME}s read from the environment, checked against the schema. */
function validateConfig(document: unknown, lineOf: (path: readonly PropertyKey[]) => number | undefined, options: LoadOptions & { source: string; baseDir: string }): Config {
  const env = options.env ?? process.env;
  const issues: ConfigIssue[] = [];
  /** Values an unset variable emptied: reported once, as unset, not again as invalid. */
  const emptied = new Set<string>();
  const raw = interpolate(document, env, [], (path, name) => {
    emptied.add(formatPath(path));
    issues.push({ path: formatPath(path), line: lineOf(path), message: `environment variable ${name} is not set; export it or write the value in the file` });
  });
  if (env.PORT !== undefined && isRecord(raw)) {
    const port = Number(env.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) issues.push({ path: 'PORT (environment)', message: `expected a port number 0-65535, got "${env.PORT}"` });
    else raw.server = { ...(isRecord(raw.server) ? raw.server : {}), port };
  }
  const schema = configSchema(options.definitions);
  const parsed = schema.safeParse(raw, parseOnce);
  if (!parsed.success) issues.push(...schemaIssues(parsed.error.issues, { schema, raw, lineOf, emptied }));
  if (issues.length > 0 || !parsed.success) throw new ConfigError(options.source, dedupeIssues(issues));
  const config = parsed.data;
  if (config.bot !== builtinBot) config.bot = resolve(options.baseDir, config.bot);
  if (config.store.type === 'sqlite') config.store.path = resolve(options.baseDir, config.store.path);
  return config;
}

/**
 * One issue per mistake: an unknown key is told key by key, with the key it likely meant (and then
 * not also that key as missing); a value an unset variable emptied was told already.
 */
function schemaIssues(
  found: readonly z.core.$ZodIssue[],
  context: { schema: z.core.$ZodType; raw: unknown; lineOf: (path: readonly PropertyKey[]) => number | undefined; emptied: Set<string> },
): ConfigIssue[] {
  const { schema, raw, lineOf, emptied } = context;
  const issues: (ConfigIssue & { missing?: boolean })[] = [];
  const meant = new Set<string>();
  for (const issue of found) {
    if (issue.code !== 'unrecognized_keys') {
      // The value itself or what it was read as (a bare callback URL is read as { url }).
      const fromEmptied = issue.path.some((_, i) => emptied.has(formatPath(issue.path.slice(0, i + 1))));
      if (!fromEmptied) issues.push({ path: formatPath(issue.path), line: lineOf(issue.path), message: issue.message, missing: issue.code === 'invalid_type' && issue.input === undefined });
      continue;
    }
    const given = valueAt(raw, issue.path);
    const free = keysAt(schema, issue.path, raw).filter((k) => !(isRecord(given) && k in given));
    for (const key of issue.keys) {
      const guess = nearest(key, free);
      if (guess) meant.add(formatPath([...issue.path, guess]));
      const path = [...issue.path, key];
      issues.push({ path: formatPath(path), line: lineOf(path), message: `unknown key "${key}"; ${guess ? `did you mean "${guess}"?` : 'check its spelling or remove it'}` });
    }
  }
  return issues.filter((i) => !(i.missing && meant.has(i.path))).map(({ missing: _, ...issue }) => issue);
}

/** Every issue's message, in the file's terms (a mapping, a list), for zod's own checks; a schema's own message wins. */
function describe(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': {
      const expected = kinds[issue.expected] ?? issue.expected;
      return issue.input === undefined ? `required: expected ${expected}` : `expected ${expected}, got ${typeName(issue.input)}`;
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(issue.input)}`;
    default:
      return undefined;
  }
}

const kinds: Record<string, string> = { object: 'a mapping', array: 'a list' };

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function dedupeIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\0${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces ${NAME} and ${NAME:-default} in string values (never in keys), reporting unset names. */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[], missing: (path: PropertyKey[], name: string) => void): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    return value.replace(ENV_REF, (_, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      missing(path, name);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, i], missing));
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, [...path, k], missing);
    return out;
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out;
}

function nodeLine(doc: Document, lines: LineCounter, path: readonly PropertyKey[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}
