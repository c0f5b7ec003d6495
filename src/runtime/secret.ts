// Secrets are marked where the config declares them (`secret(z.string())`), and masking follows
// the marks: redact() walks a parsed value beside its schema. No list of key names to keep up.

import { z } from 'zod';

type Schema = z.core.$ZodType;

const secrets = z.registry<{ secret: true }>();
const shapes = new WeakMap<Schema, (value: unknown) => Schema | undefined>();

export const masked = '********';

/** Declares a config field secret: `switchboard check` and the `config` every callback receives show it masked. */
export function secret<T extends z.ZodType>(schema: T): T {
  secrets.add(schema, { secret: true });
  return schema;
}

/** Whether this schema (or the one it was derived from with .regex(), .min()…) is marked secret. */
export function isSecret(schema: Schema): boolean {
  return secrets.get(schema)?.secret === true;
}

/** For a schema that hands its value to another one picked by the value (a platform's config, by its type): redact() follows it there. */
export function shapedBy<T extends z.ZodType>(schema: T, shapeOf: (value: unknown) => Schema | undefined): T {
  shapes.set(schema, shapeOf);
  return schema;
}

const defOf = (schema: Schema) => (schema as z.core.$ZodTypes)._zod.def;

/** The schema a wrapper (.optional(), .default(), .catch()…) wraps; undefined for any other. */
export function innerOf(schema: Schema): Schema | undefined {
  const def = defOf(schema);
  return 'innerType' in def ? def.innerType : undefined;
}

/** A copy of `value` with every field `schema` marks secret masked, and every URL's password (with or without a schema). */
export function redact<T>(value: T, schema?: Schema): T {
  return walk(schema, value) as T;
}

function walk(schema: Schema | undefined, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (schema) {
    if (isSecret(schema)) return value === '' ? value : masked;
    const shape = shapes.get(schema)?.(value);
    if (shape) return walk(shape, value);
    const inner = innerOf(schema);
    if (inner) return walk(inner, value);
    const def = defOf(schema);
    switch (def.type) {
      case 'lazy':
        return walk(def.getter() as Schema, value);
      case 'pipe':
        // A transform's output has no schema of its own; the config's transforms keep their input's keys.
        return walk(def.in, def.out._zod.def.type === 'transform' ? value : walk(def.out, value));
      case 'union':
        // Which option parsed it is not recorded: a mark in any of them masks.
        return def.options.reduce<unknown>((v, option) => walk(option, v), value);
      case 'intersection':
        return walk(def.right, walk(def.left, value));
      case 'array':
        if (Array.isArray(value)) return value.map((v) => walk(def.element, v));
        break;
      case 'record':
        if (isRecord(value)) return mapValues(value, () => def.valueType);
        break;
      case 'object':
        if (isRecord(value)) return mapValues(value, (key) => def.shape[key] ?? def.catchall);
        break;
    }
  }
  // No schema here (a transform's new key, or a value not of the schema's shape): only URLs are masked.
  if (typeof value === 'string') return maskUrl(value);
  if (Array.isArray(value)) return value.map((v) => walk(undefined, v));
  if (isRecord(value)) return mapValues(value, () => undefined);
  return value;
}

function mapValues(value: Record<string, unknown>, schemaOf: (key: string) => Schema | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = walk(schemaOf(k), v);
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Query parameters of a URL that carry a credential by convention (?token=, ?key=, ?sig=…). */
const CREDENTIAL_PARAM = /token|secret|password|passwd|apikey|api_key|aeskey|encryptkey|credential|privatekey|sign|^(key|sig|code|auth)$/i;

/** Masks a URL's password (with a user name or without one, as in redis://:password@host) and any query parameter that carries a credential. */
function maskUrl(value: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  const withoutPassword = value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^@/\s]+@/i, `$1:${masked}@`);
  return withoutPassword.replace(/([?&])([^=&#]+)=([^&#]*)/g, (whole, sep: string, name: string) => (CREDENTIAL_PARAM.test(name) ? `${sep}${name}=${masked}` : whole));
}
