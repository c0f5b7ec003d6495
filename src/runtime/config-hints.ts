// "Did you mean": the keys a config mapping takes, read from its zod schema, and the one nearest
// to a misspelt key.

import type { z } from 'zod';

type Schema = z.core.$ZodType;
type Def = { type: string; shape?: Record<string, Schema>; innerType?: Schema; in?: Schema; out?: Schema; element?: Schema; options?: Schema[]; discriminator?: string };

/** Schemas whose keys depend on the value (a platform's depend on its type): where to look instead. */
const resolvers = new WeakMap<Schema, (value: unknown) => Schema[]>();

/** Marks `schema` as taking the keys of the schemas `resolve` names for a value. */
export function keysFrom<T extends Schema>(schema: T, resolve: (value: unknown) => Schema[]): T {
  resolvers.set(schema, resolve);
  return schema;
}

/** The keys the mapping at `path` takes; `value` is the whole input, to follow platform types and discriminators. */
export function keysAt(schema: Schema, path: readonly PropertyKey[], value: unknown): string[] {
  return [...new Set(walk(schema, path, value))];
}

function walk(schema: Schema, path: readonly PropertyKey[], value: unknown): string[] {
  const resolve = resolvers.get(schema);
  if (resolve) return resolve(value).flatMap((s) => walk(s, path, value));
  const def = schema._zod.def as Def;
  const [head, ...rest] = path;
  switch (def.type) {
    case 'object':
      if (head === undefined) return Object.keys(def.shape!);
      return def.shape![head as string] ? walk(def.shape![head as string]!, rest, field(value, head)) : [];
    case 'array':
      return typeof head === 'number' ? walk(def.element!, rest, field(value, head)) : [];
    case 'union': {
      const options = def.options!;
      // A discriminated union takes the keys of the option the value names, when it names one.
      const named = def.discriminator ? options.filter((o) => (o._zod as { propValues?: Record<string, Set<unknown>> }).propValues?.[def.discriminator!]?.has(field(value, def.discriminator!))) : [];
      return (named.length > 0 ? named : options).flatMap((o) => walk(o, path, value));
    }
    case 'pipe': {
      const keys = walk(def.in!, path, value);
      return keys.length > 0 ? keys : walk(def.out!, path, value);
    }
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return walk(def.innerType!, path, value);
    default:
      return [];
  }
}

function field(value: unknown, key: PropertyKey): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined;
}

/** The value at `path` in a parsed YAML document, if there is one. */
export function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce(field, value);
}

/** The candidate a typo most likely meant: at most one edit in three letters away (case aside), the closest first. */
export function nearest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours each cost 1. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}
