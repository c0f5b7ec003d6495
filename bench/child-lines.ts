// A system under a fan-in bench in its own process (`node --import tsx <file>`), read line by line:
// the bench waits for the lines it expects ("ready <port>", "warm", "done <CPU µs>") and shows any
// other line (a warning the system logged) on stderr.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface ChildLines {
  child: ChildProcess;
  /** The next line matching `expected`; throws when the process exits or stays silent for two minutes. */
  next(expected: RegExp): Promise<RegExpExecArray>;
  stop(): Promise<void>;
}

export function spawnChild(file: string, env: Record<string, string>, profileDir?: string): ChildLines {
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${file} exited with ${code} before it was done`);
  });
  exited.catch(() => {});
  return {
    child,
    async next(expected) {
      for (;;) {
        const line = await Promise.race([lines.next(), exited, deadline(120_000, file)]);
        if (line.done) throw new Error(`${file} closed its output`);
        const match = expected.exec(line.value);
        if (match) return match;
        console.error(`  ${file}: ${line.value}`);
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = once(child, 'exit');
      child.kill('SIGTERM');
      await gone.catch(() => {});
    },
  };
}

function deadline(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms / 1000} s`)), ms).unref());
}
