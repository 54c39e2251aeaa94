/**
 * One supervised child of the embedded engine (dockerd, sysbox-mgr, sysbox-fs): spawned with only the environment
 * it needs, in a process group of its own (a terminal's Ctrl-C reaches the daemon, which stops the children in
 * order, not the children themselves), its output re-levelled into the daemon's log, restarted with backoff after
 * it dies or when it does not serve in time, stopped with SIGTERM and then SIGKILL at the deadline. Whatever is
 * left of its process group once it has gone is killed.
 */
import { type ChildProcess, spawn as nodeSpawn, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { ChildLine } from './embedded-logs.js';
import { HEALTHY_AFTER_MS, restartDelayMs } from './embedded-plan.js';

export type Spawn = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

/** How children are started and their process groups killed; tests pass fakes. */
export interface ChildControl {
  spawn: Spawn;
  /** Signals every process of the group whose leader was `pid` (gone already: nothing happens). */
  killGroup: (pid: number, signal: NodeJS.Signals) => void;
}

export const PROCESS_CONTROL: ChildControl = {
  spawn: nodeSpawn,
  killGroup: (pid, signal) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is empty.
    }
  },
};

/** The program could not be started at all (missing, not executable): no restart will help. */
export class SpawnError extends Error {}

export interface ChildSpec {
  name: string;
  command: string;
  args: readonly string[];
  env: Record<string, string>;
  relevel: (line: string) => ChildLine | null;
  /** Resolves once this generation serves (dockerd: its API answers); its signal aborts when the child exits. */
  serving: (signal: AbortSignal) => Promise<void>;
  /** Before each restart: stale pid files and sockets. */
  beforeRestart?: () => Promise<void>;
  /** After each spawn, with the new pid. */
  spawned?: (pid: number) => Promise<void>;
  /**
   * A generation that has not served after this long is killed (its whole process group) and restarted: sysbox's
   * programs fork themselves into user namespaces at start, and now and then such a fork hangs.
   */
  servingTimeoutMs?: number;
  /**
   * Kill what is left of its process group when it exits (sysbox: a fork that hung). Not for dockerd: its containerd
   * outlives a dockerd crash, so the workspaces keep running, and the restarted dockerd takes it over.
   */
  reapGroup?: boolean;
}

export interface ChildEvents {
  /** Why the child is down; null once it serves again. */
  onDown: (reason: string | null) => void;
  /** Each time a generation serves: 1 at the first start, 2 after the first restart, and so on. */
  onServing?: (generation: number) => void;
}

/** Resolves after `ms`, or at once when the signal aborts (global timers, so tests can fake them). */
export function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export class SupervisedChild {
  private child: ChildProcess | null = null;
  private running = false;
  private exited: Promise<void> = Promise.resolve();
  private generation = 0;
  private stopping = false;
  private crashes = 0;
  private readonly stopSignal = new AbortController();
  private readonly firstServing: Promise<void>;
  private settleFirst: { resolve: () => void; reject: (err: Error) => void } = { resolve: () => undefined, reject: () => undefined };
  /** The last line the child wrote at error level since it last served: the likely reason it died. */
  lastError: string | undefined;

  constructor(
    private readonly spec: ChildSpec,
    private readonly log: Logger,
    private readonly events: ChildEvents,
    private readonly control: ChildControl = PROCESS_CONTROL,
  ) {
    this.firstServing = new Promise((resolve, reject) => {
      this.settleFirst = { resolve, reject };
    });
    // The caller may stop before it awaits start(); an unobserved rejection must not crash the daemon.
    this.firstServing.catch(() => undefined);
  }

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** Spawns the child. Resolves when it first serves; rejects at once with a SpawnError when it cannot be spawned. */
  start(): Promise<void> {
    this.spawnGeneration();
    return this.firstServing;
  }

  /** SIGTERM, then SIGKILL at the deadline; no restart afterwards. */
  async stop(deadline: number): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    this.settleFirst.reject(new Error(`${this.spec.name} was stopped`));
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    const timeout = new AbortController();
    const timedOut = await Promise.race([this.exited.then(() => false), wait(Math.max(0, deadline - Date.now()), timeout.signal).then(() => true)]);
    timeout.abort();
    if (timedOut) {
      this.log.warn({ child: this.spec.name }, `${this.spec.name} ignored SIGTERM until the deadline; killing it`);
      child.kill('SIGKILL');
      await this.exited;
    }
    // Stopped for good: nothing of its process group may stay behind.
    if (child.pid !== undefined) this.control.killGroup(child.pid, 'SIGKILL');
    this.log.info({ child: this.spec.name }, `stopped ${this.spec.name}`);
  }

  private spawnGeneration(): void {
    const generation = ++this.generation;
    const startedAt = Date.now();
    const { name } = this.spec;
    const child = this.control.spawn(this.spec.command, this.spec.args, { stdio: ['ignore', 'pipe', 'pipe'], env: this.spec.env, detached: true });
    this.child = child;
    this.running = true;
    const ended = new AbortController();
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => { this.relog(line); });
    }
    this.exited = new Promise((resolve) => {
      const end = (how: string, spawnFailed: boolean): void => {
        if (ended.signal.aborted) return;
        ended.abort();
        this.running = false;
        resolve();
        if (this.spec.reapGroup === true && child.pid !== undefined) this.control.killGroup(child.pid, 'SIGKILL');
        this.afterEnd(generation, how, spawnFailed, startedAt);
      };
      child.on('exit', (code, signal) => { end(signal ?? `code ${String(code)}`, false); });
      // A failed spawn emits 'error' (and no pid); 'exit' may or may not follow.
      child.on('error', (err) => {
        if (child.pid === undefined) end(`could not be spawned: ${err.message}`, true);
        else this.log.error({ child: name, err: err.message }, `${name}: ${err.message}`);
      });
    });
    if (child.pid !== undefined) {
      this.log.info({ child: name, pid: child.pid, args: this.spec.args }, `started ${name}`);
      const { pid } = child;
      void Promise.resolve(this.spec.spawned?.(pid)).catch((err: unknown) => {
        this.log.warn({ child: name, err: err instanceof Error ? err.message : String(err) }, `${name}: could not record pid ${String(pid)}`);
      });
    }
    const serving = AbortSignal.any([ended.signal, this.stopSignal.signal]);
    const hung = this.spec.servingTimeoutMs === undefined ? undefined : setTimeout(() => {
      if (serving.aborted || child.pid === undefined) return;
      this.log.warn({ child: name, pid: child.pid }, `${name} did not serve within ${String(this.spec.servingTimeoutMs)} ms; killing it to start it again`);
      this.control.killGroup(child.pid, 'SIGKILL');
    }, this.spec.servingTimeoutMs);
    serving.addEventListener('abort', () => { clearTimeout(hung); }, { once: true });
    this.spec.serving(serving).then(
      () => {
        clearTimeout(hung);
        if (serving.aborted) return;
        this.lastError = undefined;
        this.events.onDown(null);
        this.events.onServing?.(generation);
        this.settleFirst.resolve();
      },
      (err: unknown) => {
        if (serving.aborted) return;
        const message = err instanceof Error ? err.message : String(err);
        this.log.error({ child: name, err: message }, `${name} does not serve`);
        this.events.onDown(`${name} does not serve: ${message}`);
        this.settleFirst.reject(err instanceof Error ? err : new Error(message));
      },
    );
  }

  private relog(line: string): void {
    const relevelled = this.spec.relevel(line);
    if (relevelled === null) return;
    if (relevelled.level === 'error') this.lastError = relevelled.msg;
    this.log[relevelled.level]({ child: this.spec.name, ...(relevelled.note !== undefined && { note: relevelled.note }) }, relevelled.msg);
  }

  private afterEnd(generation: number, how: string, spawnFailed: boolean, startedAt: number): void {
    if (this.stopping) return;
    const { name } = this.spec;
    if (spawnFailed && generation === 1) {
      const reason = `${name} (${this.spec.command}) ${how}`;
      this.log.error({ child: name }, reason);
      this.events.onDown(reason);
      this.settleFirst.reject(new SpawnError(reason));
      return;
    }
    this.crashes = Date.now() - startedAt > HEALTHY_AFTER_MS ? 1 : this.crashes + 1;
    const delayMs = restartDelayMs(this.crashes);
    const last = spawnFailed || this.lastError === undefined ? '' : `: ${this.lastError}`;
    const reason = `${name} ${spawnFailed ? how : `exited (${how})`}${last}; restarting in ${String(delayMs)} ms`;
    this.log.error({ child: name, delayMs }, reason);
    this.events.onDown(reason);
    void wait(delayMs, this.stopSignal.signal)
      .then(() => (this.stopping ? undefined : this.spec.beforeRestart?.()))
      .catch((err: unknown) => {
        this.log.warn({ child: name, err: err instanceof Error ? err.message : String(err) }, `${name}: cleaning up before the restart failed`);
      })
      .then(() => {
        if (!this.stopping) this.spawnGeneration();
      });
  }
}
