/**
 * Runs the real `cvm-supervisor serve` (dist/, built by test/support/build.ts) as a child process, so tests can
 * SIGKILL it at any moment and start it again on the same state dir. `launch` runs another command line that ends
 * in the daemon (npm start, a wrapper that makes a mount namespace first) and follows its log the same way.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { testDockerHost } from './engine.js';

/** dist/main.js, the daemon's entry point. */
export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface DaemonLogLine {
  msg?: string;
  workspace?: string;
  phase?: string;
  reason?: string | null;
  [key: string]: unknown;
}

export class DaemonProcess {
  readonly lines: DaemonLogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();

  constructor(args: readonly string[], env: Record<string, string>, launch?: { command: string; args: readonly string[]; cwd?: string }) {
    const engine = args.includes('--docker-host') || args.includes('--engine') ? [] : ['--docker-host', testDockerHost()];
    const [command, argv] = launch ? [launch.command, launch.args] : [process.execPath, [MAIN, 'serve', ...engine, '--listen', '127.0.0.1:0', ...args]];
    this.child = spawn(command, argv, {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(launch?.cwd !== undefined && { cwd: launch.cwd }),
    });
    const out = this.child.stdout;
    const err = this.child.stderr;
    if (!out || !err) throw new Error('daemon started without pipes');
    createInterface({ input: out }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line) as DaemonLogLine);
      } catch {
        this.lines.push({ msg: line });
      }
      for (const wake of this.waiters) wake();
    });
    createInterface({ input: err }).on('line', (line) => this.stderr.push(line));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => { resolve(code); }));
  }

  /** Resolves with the first log line (already seen or yet to come) that matches. */
  waitForLine(match: (line: DaemonLogLine) => boolean, timeoutMs: number, what: string): Promise<DaemonLogLine> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.lines.find(match);
        if (!found) return false;
        cleanup();
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`daemon: no "${what}" within ${timeoutMs} ms; stderr: ${this.stderr.join(' | ')}; last log: ${JSON.stringify(this.lines.slice(-5))}`));
      }, timeoutMs);
      const wake = (): void => {
        check();
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      this.waiters.add(wake);
      check();
    });
  }

  waitForPhase(workspace: string, phase: string, timeoutMs = 90_000): Promise<DaemonLogLine> {
    return this.waitForLine((l) => l.workspace === workspace && l.phase === phase, timeoutMs, `${workspace} ${phase}`);
  }

  phasesOf(workspace: string): string[] {
    return this.lines.filter((l) => l.workspace === workspace && typeof l.phase === 'string').map((l) => String(l.phase));
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** The pid of the process started (npm, when launched through npm start). */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Whether it still runs. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}
