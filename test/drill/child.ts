// The real CLI as a child process, for fault drills: start it, read its URL from the
// "switchboard started" line, kill it with SIGKILL (no handler runs, nothing is flushed), or stop it.

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/switchboard.js', import.meta.url));

export class SwitchboardProcess {
  output = '';
  url = '';
  private exitCode: number | null | undefined;
  private readonly exited: Promise<number | null>;
  private readonly lineWaiters = new Set<() => void>();

  /** `group`: the child leads a process group (a launcher such as npx, which does not pass signals on), signalled as a whole. */
  private constructor(private readonly child: ChildProcessByStdio<null, Readable, Readable>, private readonly group = false) {
    const take = (chunk: Buffer) => {
      this.output += chunk.toString();
      for (const wake of this.lineWaiters) wake();
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.exitCode = code;
        for (const wake of this.lineWaiters) wake();
        resolve(code);
      }),
    );
  }

  /**
   * Starts `switchboard start --config <config> [...args]` in `cwd` and waits until it serves;
   * `launcher` replaces `node bin/switchboard.js` (`['npx', 'switchboard']` for an installed package).
   */
  static async start(config: string, cwd: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000, args: string[] = [], launcher?: string[]): Promise<SwitchboardProcess> {
    const [command, ...prefix] = launcher ?? [process.execPath, bin];
    const child = spawn(command!, [...prefix, 'start', '--config', config, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: launcher !== undefined });
    const proc = new SwitchboardProcess(child, launcher !== undefined);
    const line = await proc.waitForLine((l) => l.includes('"msg":"switchboard started"'), timeoutMs, 'the "switchboard started" line');
    proc.url = (JSON.parse(line) as { url: string }).url;
    return proc;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The first output line matching `match`; fails early, with the output, if the process exits first. */
  async waitForLine(match: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.output.split('\n').find(match);
      if (found) return found;
      if (this.exitCode !== undefined) throw new Error(`switchboard exited (${this.exitCode}) before ${what}:\n${this.output.slice(-4000)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms:\n${this.output.slice(-4000)}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.lineWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.lineWaiters.add(done);
      });
    }
  }

  /** SIGKILL, as a crash or the OOM killer would. */
  async kill(): Promise<void> {
    if (this.running) this.signal('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, and the exit code. */
  async stop(): Promise<number | null> {
    if (this.running) this.signal('SIGTERM');
    return this.exited;
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.group && this.child.pid !== undefined) process.kill(-this.child.pid, signal);
    else this.child.kill(signal);
  }
}
