// Command specs like 'echo <text:rest>' or 'roll [sides:int]': parsed once at registration,
// typed at compile time, and applied to a message's argument text at run time.

type ArgTypes = { string: string; word: string; rest: string; text: string; number: number; int: number; boolean: boolean };
export type ArgType = keyof ArgTypes;

type TypeOf<T extends string> = T extends ArgType ? ArgTypes[T] : string;
type NameOf<P extends string> = P extends `${infer N}:${string}` ? N : P;
type ValueOf<P extends string> = P extends `${string}:${infer T}` ? TypeOf<T> : string;
type Token<T extends string> = T extends `<${infer P}>`
  ? { [K in NameOf<P>]: ValueOf<P> }
  : T extends `[${infer P}]`
    ? { [K in NameOf<P>]?: ValueOf<P> }
    : unknown;
type Tokens<S extends string> = S extends `${infer H} ${infer R}` ? Token<H> & Tokens<R> : Token<S>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The typed arguments of a command spec: ArgsOf<'echo <text:rest>'> is { text: string }. */
export type ArgsOf<S extends string> = S extends `${string} ${infer Params}` ? Simplify<Tokens<Params>> : {};

export interface Param {
  name: string;
  type: ArgType;
  optional: boolean;
}

export interface CommandSpec {
  name: string;
  params: Param[];
  /** The spec as the user should type it, e.g. "/echo <text>". */
  usage: string;
}

const argTypes = new Set<string>(['string', 'word', 'rest', 'text', 'number', 'int', 'boolean']);

export function parseSpec(spec: string): CommandSpec {
  const [head, ...tokens] = spec.trim().split(/\s+/);
  const name = (head ?? '').replace(/^\//, '').toLowerCase();
  if (!/^[a-z0-9_][a-z0-9_-]*$/.test(name)) throw new Error(`invalid command name in "${spec}": use letters, digits, "_" or "-"`);
  const params = tokens.map((token, i): Param => {
    const match = /^([<[])([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?([>\]])$/.exec(token);
    if (!match || (match[1] === '<') !== (match[4] === '>')) throw new Error(`invalid parameter "${token}" in "${spec}": write <name:type> or [name:type]`);
    const type = (match[3] ?? 'string') as ArgType;
    if (!argTypes.has(type)) throw new Error(`unknown type "${type}" in "${spec}": use one of ${[...argTypes].join(', ')}`);
    if ((type === 'rest' || type === 'text') && i !== tokens.length - 1) throw new Error(`"${token}" in "${spec}" takes the rest of the line, so it must come last`);
    return { name: match[2]!, type, optional: match[1] === '[' };
  });
  const usage = [`/${name}`, ...params.map((p) => (p.optional ? `[${p.name}]` : `<${p.name}>`))].join(' ');
  return { name, params, usage };
}

export class ArgumentError extends Error {
  override readonly name = 'ArgumentError';
}

/** Applies a spec's parameters to the text after the command name. */
export function parseArgs(spec: CommandSpec, input: string): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  let rest = input.trim();
  for (const param of spec.params) {
    if (rest === '') {
      if (!param.optional) throw new ArgumentError(`missing <${param.name}>`);
      continue;
    }
    if (param.type === 'rest' || param.type === 'text') {
      args[param.name] = rest;
      rest = '';
      continue;
    }
    const [word, after] = takeWord(rest);
    rest = after;
    args[param.name] = convert(param, word);
  }
  if (rest !== '') throw new ArgumentError(`unexpected "${rest}"`);
  return args;
}

function takeWord(text: string): [string, string] {
  const quote = text[0];
  if (quote === '"' || quote === "'") {
    const end = text.indexOf(quote, 1);
    if (end > 0) return [text.slice(1, end), text.slice(end + 1).trimStart()];
  }
  const space = text.search(/\s/);
  return space < 0 ? [text, ''] : [text.slice(0, space), text.slice(space).trimStart()];
}

function convert(param: Param, word: string): unknown {
  switch (param.type) {
    case 'number': {
      const n = Number(word);
      if (word === '' || !Number.isFinite(n)) throw new ArgumentError(`<${param.name}> must be a number, got "${word}"`);
      return n;
    }
    case 'int': {
      const n = Number(word);
      if (!Number.isSafeInteger(n)) throw new ArgumentError(`<${param.name}> must be a whole number, got "${word}"`);
      return n;
    }
    case 'boolean': {
      const lower = word.toLowerCase();
      if (['true', 'yes', 'on', '1'].includes(lower)) return true;
      if (['false', 'no', 'off', '0'].includes(lower)) return false;
      throw new ArgumentError(`<${param.name}> must be yes or no, got "${word}"`);
    }
    default:
      return word;
  }
}

/** Splits "/echo@bot hello" into ["echo", "hello"]; undefined when the text is not a command. */
export function splitCommand(text: string, prefix = '/'): { name: string; rest: string } | undefined {
  if (!text.startsWith(prefix)) return undefined;
  const match = /^(\S+)(?:\s+([\s\S]*))?$/.exec(text.slice(prefix.length));
  if (!match || match[1] === undefined) return undefined;
  return { name: match[1].toLowerCase(), rest: match[2] ?? '' };
}

/** The known name closest to `name`, if it is a plausible typo (edit distance <= 2, and less than half its length). */
export function closest(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.floor(name.length / 2)) + 1;
  for (const candidate of known) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance > 0 ? best : undefined;
}

/** Damerau–Levenshtein (optimal string alignment): a swapped pair of letters counts as one typo. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1]!;
}
