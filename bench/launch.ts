// A system under test in its own process: `node --import tsx <file>`, which prints "ready <port>",
// reports its own CPU time on SIGUSR2 and its peak RSS on SIGTERM (bench/sut.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export interface SystemProcess {
  child: ChildProcess;
  port: number;
  /** CPU microseconds (user + system) the process has used so far, by its own process.cpuUsage(). */
  cpu(): Promise<number>;
  /** Memory after a full GC; only for a process launched with `--expose-gc` (the soak). */
  memory(): Promise<MemorySample>;
  /** Stops the process; resolves to its peak RSS in bytes. */
  stop(): Promise<number>;
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Bytes on disk of the files the system named (its database and WAL), 0 if none. */
  disk: number;
}

export const benchFile = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export async function launch(file: string, env: Record<string, string>, nodeArgs: readonly string[] = []): Promise<SystemProcess> {
  // In this repository `import 'switchboard'` (bots/echo.ts) means the sources, as bin/switchboard.js arranges for the CLI.
  const child = spawn(process.execPath, [...nodeArgs, '--conditions=switchboard-source', '--import', 'tsx', benchFile(file)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let buffered = '';
  let rss = Number.NaN;
  let cpuWaiter: ((micros: number) => void) | undefined;
  let memoryWaiter: ((sample: MemorySample) => void) | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const ready = /^ready (\d+)$/.exec(line);
        if (ready) resolve(Number(ready[1]));
        const peak = /^rss (\d+)$/.exec(line);
        if (peak) rss = Number(peak[1]);
        const cpu = /^cpu (\d+)$/.exec(line);
        if (cpu) cpuWaiter?.(Number(cpu[1]));
        const mem = /^mem (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$/.exec(line);
        if (mem) memoryWaiter?.({ rss: Number(mem[1]), heapUsed: Number(mem[2]), heapTotal: Number(mem[3]), external: Number(mem[4]), arrayBuffers: Number(mem[5]), disk: Number(mem[6]) });
      }
    });
  });
  return {
    child,
    port,
    cpu: () =>
      new Promise<number>((resolve) => {
        cpuWaiter = resolve;
        child.kill('SIGUSR2');
      }),
    memory: () =>
      new Promise<MemorySample>((resolve, reject) => {
        const died = (code: number | null, signal: string | null) => reject(new Error(`${file} exited (${signal ?? code}) before it told its memory`));
        child.once('exit', died);
        memoryWaiter = (sample) => {
          child.off('exit', died);
          resolve(sample);
        };
        child.kill('SIGUSR2');
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return rss;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
      return rss;
    },
  };
}
