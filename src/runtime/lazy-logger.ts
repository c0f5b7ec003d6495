// A child logger made only once it has something to print. Every message gets a logger bound to
// its event, chat and bot, yet at the production level (warn) a message that goes well prints
// nothing: pino's child() (its bindings serialized, redaction set up) would be work for nothing,
// once per message.

import type { Logger } from 'pino';

const levels = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);

export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  const made = () => (child ??= parent.child(bindings));
  return new Proxy(parent, {
    get(_, key) {
      // A level the parent does not print is pino's no-op on the parent and its children alike.
      if (child === undefined && typeof key === 'string' && levels.has(key) && !parent.isLevelEnabled(key)) return parent[key as 'info'];
      const target = made();
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set(_, key, value) {
      return Reflect.set(made(), key, value);
    },
  });
}
