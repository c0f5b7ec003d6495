// A child logger made only once it has something to print. Every message gets a logger bound to
// its event, chat and bot, yet at the production level (warn) a message that goes well prints
// nothing: pino's child() (its bindings serialized, redaction set up) would be work for nothing,
// once per message.

import type { Logger } from 'pino';

const levels = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);

/** The proxy's handler, one object per logger (its methods on the prototype, not closures made per message). */
class LazyChild implements ProxyHandler<Logger> {
  private child: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Record<string, unknown>,
  ) {}

  get(_: Logger, key: string | symbol): unknown {
    const { parent } = this;
    // A level the parent does not print is pino's no-op on the parent and its children alike.
    if (this.child === undefined && typeof key === 'string' && levels.has(key) && !parent.isLevelEnabled(key)) return parent[key as 'info'];
    const target = this.made();
    const value: unknown = Reflect.get(target, key, target);
    return typeof value === 'function' ? value.bind(target) : value;
  }

  set(_: Logger, key: string | symbol, value: unknown): boolean {
    return Reflect.set(this.made(), key, value);
  }

  private made(): Logger {
    return (this.child ??= this.parent.child(this.bindings));
  }
}

export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  return new Proxy(parent, new LazyChild(parent, bindings));
}
