/**
 * Embedded engine mode: the daemon runs its own dockerd (and sysbox-mgr + sysbox-fs when installed) as supervised
 * children. A child that dies is restarted with backoff; its output is re-levelled into the daemon's JSON log.
 * Stale pid files and sockets of a crashed run are cleaned up first, so a restarted pod comes back.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { access, readFile, readdir, readlink, rm, mkdir } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { bridgeCidrFor, bridgeNameFor, dockerdArgs, embeddedPaths, HEALTHY_AFTER_MS, relevel, restartDelayMs } from './embedded-plan.js';

const run = promisify(execFile);

const SYSBOX_SOCKETS = ['/run/sysbox/sysmgr.sock', '/run/sysbox/sysfs.sock'];

export interface EmbeddedEngineOptions {
  dataRoot: string;
  runDir: string;
  logger: Logger;
  /** Answers when dockerd's API is up. */
  ping: () => Promise<unknown>;
  /** Called when a restarted dockerd answers again (not at the first start). */
  onEngineRestarted?: () => void;
  pingIntervalMs?: number;
  startDeadlineMs?: number;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '').split(':').filter(Boolean)) {
    const candidate = path.join(dir, name);
    if (await exists(candidate)) return candidate;
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether dockerd is installed: `--engine auto` falls back to embedded mode only then. */
export async function dockerdInstalled(): Promise<boolean> {
  return (await onPath('dockerd')) !== undefined;
}

/** One supervised child: restarted with backoff after it dies, unless it is being stopped. */
class Supervised {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private stopping = false;
  private crashes = 0;

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly log: Logger,
    private readonly onDown: (reason: string | null) => void,
    private readonly beforeRestart: () => Promise<void> = () => Promise.resolve(),
    /** Resolves once the child serves (dockerd: its API answers); until then it counts as down. */
    private readonly serving: () => Promise<void> = () => Promise.resolve(),
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const child = spawn(this.command, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const startedAt = Date.now();
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        const { level, msg } = relevel(line);
        this.log[level]({ child: this.name }, msg);
      });
    }
    this.log.info({ child: this.name, pid: child.pid, args: this.args }, `started ${this.name}`);
    void this.serving().then(
      () => {
        if (this.child === child && child.exitCode === null && child.signalCode === null) this.onDown(null);
      },
      (err: unknown) => {
        this.log.error({ child: this.name, err: err instanceof Error ? err.message : String(err) }, `${this.name} does not serve`);
      },
    );
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        resolve();
        if (this.stopping) return;
        this.crashes = Date.now() - startedAt > HEALTHY_AFTER_MS ? 1 : this.crashes + 1;
        const delayMs = restartDelayMs(this.crashes);
        const reason = `${this.name} exited (${signal ?? `code ${String(code)}`}); restarting in ${delayMs} ms`;
        this.log.error({ child: this.name, code, signal, delayMs }, reason);
        this.onDown(reason);
        void sleep(delayMs)
          .then(() => (this.stopping ? undefined : this.beforeRestart()))
          .then(() => {
            if (!this.stopping) this.start();
          });
      });
      child.on('error', (err) => {
        this.log.error({ child: this.name, err: err.message }, `${this.name} could not run`);
      });
    });
  }

  /** SIGTERM, then SIGKILL at the deadline. */
  async stop(deadline: number): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const left = Math.max(0, deadline - Date.now());
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(left).then(() => true)]);
    if (timedOut) {
      this.log.warn({ child: this.name }, `${this.name} ignored SIGTERM until the deadline; killing it`);
      child.kill('SIGKILL');
      await this.exited;
    }
    this.log.info({ child: this.name }, `stopped ${this.name}`);
  }
}

export class EmbeddedEngine {
  readonly dockerHost: string;
  private readonly paths: ReturnType<typeof embeddedPaths>;
  private readonly bridge: string;
  private readonly downReasons = new Map<string, string>();
  private dockerd: Supervised | null = null;
  private readonly sysbox: Supervised[] = [];
  private stopped = false;

  constructor(private readonly options: EmbeddedEngineOptions) {
    this.paths = embeddedPaths(options.runDir);
    this.dockerHost = `unix://${this.paths.socket}`;
    this.bridge = bridgeNameFor(options.dataRoot);
    this.downReasons.set('dockerd', 'the embedded engine is starting');
  }

  /** Why the engine is down (a child died and awaits its restart); empty while it runs. */
  reasons(): string[] {
    return [...this.downReasons.values()];
  }

  /** The running children's pids. */
  pids(): number[] {
    return [this.dockerd, ...this.sysbox].flatMap((c) => (c?.pid === undefined ? [] : [c.pid]));
  }

  /** Starts sysbox (waiting for both its sockets), then dockerd, and waits until dockerd answers. */
  /** Creates --data-root and --run-dir; done before the preflight, which checks that the data root exists. */
  async prepare(): Promise<void> {
    await mkdir(this.options.runDir, { recursive: true });
    await mkdir(this.options.dataRoot, { recursive: true });
  }

  async start(signal?: AbortSignal): Promise<void> {
    const log = this.options.logger;
    await this.prepare();
    const sysboxRunc = await this.startSysbox();
    const iptables = !(await this.otherDockerdInOurNetwork());
    if (!iptables) log.warn('another dockerd runs in this network namespace: the embedded engine leaves iptables alone (no NAT for workspaces)');
    await this.cleanStale();
    await this.ensureBridge();
    const args = dockerdArgs({ dataRoot: this.options.dataRoot, runDir: this.options.runDir, bridge: this.bridge, mtu: await defaultRouteMtu(), sysboxRunc, iptables });
    let restarted = false;
    const serving = async (): Promise<void> => {
      await this.waitForApi(signal);
      if (restarted) this.options.onEngineRestarted?.();
      restarted = true;
    };
    this.dockerd = new Supervised('dockerd', 'dockerd', args, log, (reason) => { this.setDown('dockerd', reason); }, () => this.cleanStale(), serving);
    if (this.stopped) return;
    this.dockerd.start();
    await serving();
  }

  /** dockerd first, then sysbox-fs and sysbox-mgr; the bridge goes last. The workspaces were stopped before. */
  async stop(deadline: number): Promise<void> {
    this.stopped = true;
    await this.dockerd?.stop(deadline);
    for (const child of [...this.sysbox].reverse()) await child.stop(deadline);
    await run('ip', ['link', 'del', this.bridge]).catch(() => undefined);
  }

  private setDown(name: string, reason: string | null): void {
    if (reason === null) this.downReasons.delete(name);
    else this.downReasons.set(name, reason);
  }

  private async waitForApi(signal: AbortSignal | undefined): Promise<void> {
    const log = this.options.logger;
    const interval = this.options.pingIntervalMs ?? 250;
    const deadline = Date.now() + (this.options.startDeadlineMs ?? 300_000);
    let nextProgress = Date.now() + 5_000;
    for (;;) {
      try {
        await this.options.ping();
        log.info({ dockerHost: this.dockerHost }, 'the embedded engine answers');
        return;
      } catch (err) {
        if (this.stopped || signal?.aborted === true) throw err;
        if (Date.now() >= deadline) throw new Error(`the embedded dockerd did not answer at ${this.dockerHost} in time`, { cause: err });
        if (Date.now() >= nextProgress) {
          log.info({ dockerHost: this.dockerHost, secondsLeft: Math.round((deadline - Date.now()) / 1000) }, 'waiting for the embedded engine');
          nextProgress = Date.now() + 5_000;
        }
        await sleep(interval);
      }
    }
  }

  /** sysbox-mgr and sysbox-fs when installed; returns sysbox-runc's path once both sockets exist. */
  private async startSysbox(): Promise<string | undefined> {
    const [mgr, fs, runc] = await Promise.all([onPath('sysbox-mgr'), onPath('sysbox-fs'), onPath('sysbox-runc')]);
    if (mgr === undefined || fs === undefined || runc === undefined) {
      this.options.logger.info('sysbox is not installed: the embedded engine has no sysbox-runc runtime');
      return undefined;
    }
    for (const socket of SYSBOX_SOCKETS) await rm(socket, { force: true });
    for (const [name, command] of [['sysbox-mgr', mgr], ['sysbox-fs', fs]] as const) {
      const child = new Supervised(name, command, [], this.options.logger, (reason) => { this.setDown(name, reason); });
      this.sysbox.push(child);
      child.start();
    }
    // Both: waiting for sysmgr.sock alone races sysbox-fs (envbox PR #176).
    while (!(await Promise.all(SYSBOX_SOCKETS.map(exists))).every(Boolean)) {
      if (this.stopped) return undefined;
      await sleep(100);
    }
    return runc;
  }

  /** A pid file whose dockerd still runs is our orphan from a crashed daemon: it is stopped; then files go. */
  private async cleanStale(): Promise<void> {
    const pid = Number.parseInt(await readFile(this.paths.pidfile, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(this.paths.pidfile)) {
        this.options.logger.warn({ pid }, 'a dockerd of a previous run still holds our pid file; stopping it');
        process.kill(pid, 'SIGTERM');
        for (let i = 0; i < 150 && alive(pid); i++) await sleep(100);
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
    }
    await rm(this.paths.pidfile, { force: true });
    await rm(this.paths.socket, { force: true });
  }

  private async ensureBridge(): Promise<void> {
    const exists = await run('ip', ['link', 'show', this.bridge]).then(() => true, () => false);
    if (!exists) await run('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    await run('ip', ['addr', 'replace', bridgeCidrFor(this.options.dataRoot), 'dev', this.bridge]);
    await run('ip', ['link', 'set', this.bridge, 'up']);
  }

  private async otherDockerdInOurNetwork(): Promise<boolean> {
    const ours = await readlink('/proc/self/ns/net').catch(() => '');
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const comm = (await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '')).trim();
      if (comm !== 'dockerd') continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(this.paths.pidfile)) continue; // our own orphan; cleanStale stops it
      if ((await readlink(`/proc/${entry}/ns/net`).catch(() => '')) === ours) return true;
    }
    return false;
  }
}

/** The default-route interface's MTU, or undefined (dockerd's default) when there is no default route. */
async function defaultRouteMtu(): Promise<number | undefined> {
  const routes = await run('ip', ['-o', 'route', 'show', 'default']).then((r) => r.stdout, () => '');
  const dev = /\bdev (\S+)/.exec(routes)?.[1];
  if (dev === undefined) return undefined;
  const mtu = Number.parseInt(await readFile(`/sys/class/net/${dev}/mtu`, 'utf8').catch(() => ''), 10);
  return Number.isInteger(mtu) && mtu > 0 ? mtu : undefined;
}
