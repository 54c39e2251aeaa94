/**
 * Embedded engine mode: the daemon runs its own dockerd (and sysbox-mgr + sysbox-fs while CVMs are enabled) as
 * supervised children, with their state under the daemon's own directories. Start: our orphans of a crashed run go,
 * sysbox comes up (both sockets), the bridge, then dockerd, all within --engine-start-timeout. Stop, after the
 * workspaces: dockerd, sysbox-fs, sysbox-mgr, the bridge. The rule that keeps workspaces off the daemon's port
 * (src/daemon/api-firewall.ts) is on the bridge before this starts and goes after it stopped.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { type ChildControl, SpawnError, SupervisedChild } from './embedded-child.js';
import {
  alive,
  defaultRouteMtu,
  EmbeddedSetupError,
  ensureBridge,
  findOnPath,
  listProcesses,
  ownNamespaces,
  runTool,
  terminate,
  waitForFile,
} from './embedded-host.js';
import { relevelDockerd, relevelSysbox, type SysboxStopView } from './embedded-logs.js';
import {
  bridgeCidrFor,
  bridgeMacFor,
  bridgeNameFor,
  childEnvironment,
  containerdNamespaceFor,
  dockerdArgs,
  embeddedPaths,
  shimContainerIds,
  SYSBOX_SOCKETS,
  type SysboxPart,
  sysboxMgrArgs,
} from './embedded-plan.js';
import { waitForApi, withDeadline } from './embedded-wait.js';

export { EmbeddedSetupError } from './embedded-host.js';

export interface EmbeddedEngineOptions {
  dataRoot: string;
  runDir: string;
  /** sysbox-mgr's --data-root. */
  sysboxDataRoot: string;
  /** Whether CVMs are enabled: only then does sysbox run. */
  sysbox: boolean;
  logger: Logger;
  /** Answers when dockerd's API is up. */
  ping: () => Promise<unknown>;
  /** Called when a restarted dockerd answers again (not at the first start). */
  onEngineRestarted?: () => void;
  pingIntervalMs?: number;
  startDeadlineMs?: number;
  /** The daemon's environment; the children get only what childEnvironment passes. */
  env?: NodeJS.ProcessEnv;
  control?: ChildControl;
}

const ORPHAN_GRACE_MS = 15_000;
/** sysbox-mgr and sysbox-fs make their sockets within a second; a start that hangs is retried. */
const SYSBOX_SERVING_TIMEOUT_MS = 15_000;
const SYSBOX_HINT = 'install sysbox (the sysbox-ce package, https://github.com/nestybox/sysbox) or put sysbox-runc, sysbox-mgr and sysbox-fs on PATH';

/** Whether dockerd is installed: `--engine auto` falls back to embedded mode only then. */
export async function dockerdInstalled(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  return (await findOnPath('dockerd', childEnvironment(env)['PATH'] ?? '')) !== undefined;
}

export class EmbeddedEngine {
  readonly dockerHost: string;
  readonly bridge: string;
  private readonly paths: ReturnType<typeof embeddedPaths>;
  private readonly env: Record<string, string>;
  private readonly downReasons = new Map<string, string>();
  private dockerd: SupervisedChild | null = null;
  private readonly sysbox: SupervisedChild[] = [];
  private readonly stopping = new AbortController();
  private readonly sysboxView: SysboxStopView = { stopping: false, runningContainers: [] };

  constructor(private readonly options: EmbeddedEngineOptions) {
    this.paths = embeddedPaths(options.runDir);
    this.dockerHost = `unix://${this.paths.socket}`;
    this.bridge = bridgeNameFor(options.dataRoot);
    this.env = childEnvironment(options.env ?? process.env);
    this.downReasons.set('dockerd', 'the embedded engine is starting');
  }

  /** Whether stop() was called or the start's signal aborted (a start cut short so is no failure). */
  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Why the engine is down (starting, a child died and awaits its restart, the start failed); empty while it runs. */
  reasons(): string[] {
    return [...this.downReasons.values()];
  }

  /** The running children's pids. */
  pids(): number[] {
    return [this.dockerd, ...this.sysbox].flatMap((c) => (c?.pid === undefined ? [] : [c.pid]));
  }

  /** Creates --data-root and --run-dir. */
  async prepare(): Promise<void> {
    await mkdir(this.options.runDir, { recursive: true });
    await mkdir(this.options.dataRoot, { recursive: true });
  }

  /**
   * Resolves once dockerd answers. Rejects with an EmbeddedSetupError for what no retry mends (a program missing
   * or not spawnable, no CAP_NET_ADMIN, another sysbox in this mount namespace); with another error when sysbox or
   * dockerd did not come up in time. Either way reasons() says why from then on.
   */
  async start(signal?: AbortSignal): Promise<void> {
    signal?.addEventListener('abort', () => { this.stopping.abort(); }, { once: true });
    const deadlineMs = this.options.startDeadlineMs ?? 300_000;
    const deadline = Date.now() + deadlineMs;
    try {
      await this.prepare();
      const dockerd = await findOnPath('dockerd', this.env['PATH'] ?? '');
      if (dockerd === undefined) throw new EmbeddedSetupError(`dockerd is not installed (not on PATH ${this.env['PATH'] ?? ''}): install docker.io (Debian, Ubuntu) or Docker Engine, or use --engine host`);
      await this.stopOwnOrphans();
      const sysboxRunc = this.options.sysbox ? await this.startSysbox(deadline) : undefined;
      const iptables = !(await this.otherDockerdInOurNetwork());
      if (!iptables) this.options.logger.warn('another dockerd runs in this network namespace: the embedded engine leaves iptables alone (no NAT for workspaces)');
      await this.cleanStaleDockerd();
      await ensureBridge({ name: this.bridge, cidr: bridgeCidrFor(this.options.dataRoot), mac: bridgeMacFor(this.options.dataRoot) }, this.env);
      const args = dockerdArgs({ dataRoot: this.options.dataRoot, runDir: this.options.runDir, bridge: this.bridge, mtu: await defaultRouteMtu(this.env), sysboxRunc, iptables });
      this.dockerd = new SupervisedChild(
        { name: 'dockerd', command: dockerd, args, env: this.env, relevel: relevelDockerd, serving: (signal) => this.answering(signal), beforeRestart: () => this.cleanStaleDockerd() },
        this.options.logger,
        {
          onDown: (reason) => { this.setDown('dockerd', reason); },
          onServing: (generation) => {
            this.options.logger.info({ dockerHost: this.dockerHost, generation }, 'the embedded engine answers');
            if (generation > 1) this.options.onEngineRestarted?.();
          },
        },
        this.options.control,
      );
      if (this.stopping.signal.aborted) throw new Error('stopped while starting');
      const describe = (): string => `the embedded dockerd did not answer at ${this.dockerHost} within ${String(deadlineMs / 1000)} s${lastWords(this.dockerd)}`;
      await withDeadline(this.dockerd.start(), deadline, describe, this.stopping.signal);
    } catch (err) {
      const fatal = err instanceof SpawnError ? new EmbeddedSetupError(err.message, { cause: err }) : err;
      const message = fatal instanceof Error ? fatal.message : String(fatal);
      if (!this.stopping.signal.aborted) this.setDown('dockerd', `the embedded engine did not start: ${message}`);
      throw fatal;
    }
  }

  /** dockerd first (the workspaces were stopped before), then sysbox-fs and sysbox-mgr; the bridge last. */
  async stop(deadline: number): Promise<void> {
    this.stopping.abort();
    await this.dockerd?.stop(deadline);
    await this.stopSysbox(deadline);
    await runTool('ip', ['link', 'del', this.bridge], this.env).catch(() => undefined);
  }

  private setDown(name: string, reason: string | null): void {
    if (reason === null) this.downReasons.delete(name);
    else this.downReasons.set(name, reason);
  }

  private answering(signal: AbortSignal): Promise<void> {
    return waitForApi(this.options.ping, {
      signal,
      intervalMs: this.options.pingIntervalMs ?? 250,
      onSlow: (seconds) => { this.options.logger.info({ dockerHost: this.dockerHost, seconds }, 'waiting for the embedded engine'); },
    });
  }

  /** sysbox-mgr, then sysbox-fs, each once its socket exists; returns sysbox-runc's path (undefined: not installed). */
  private async startSysbox(deadline: number): Promise<string | undefined> {
    const log = this.options.logger;
    const search = this.env['PATH'] ?? '';
    const [mgr, fs, runc] = await Promise.all(['sysbox-mgr', 'sysbox-fs', 'sysbox-runc'].map((name) => findOnPath(name, search)));
    if (mgr === undefined || fs === undefined || runc === undefined) {
      log.warn({ path: search }, `sysbox is not installed, so CVMs cannot run here (the embedded engine has no sysbox-runc): ${SYSBOX_HINT}`);
      return undefined;
    }
    const other = await this.otherSysboxInOurMountNamespace();
    if (other !== undefined) {
      throw new EmbeddedSetupError(
        `another ${other.comm} (pid ${String(other.pid)}) runs in this mount namespace, and sysbox allows one per mount namespace (/run/sysbox): run the daemon in a container or a mount namespace of its own, or use --engine host with that sysbox's engine`,
      );
    }
    await mkdir(this.options.sysboxDataRoot, { recursive: true });
    for (const [part, command, args] of [['sysbox-mgr', mgr, sysboxMgrArgs(this.options.sysboxDataRoot)], ['sysbox-fs', fs, []]] as const) {
      await rm(SYSBOX_SOCKETS[part], { force: true });
      const child = this.sysboxChild(part, command, args);
      this.sysbox.push(child);
      try {
        await withDeadline(child.start(), deadline, () => `${part} did not come up (no ${SYSBOX_SOCKETS[part]}) before --engine-start-timeout${lastWords(child)}`, this.stopping.signal);
      } catch (err) {
        // A sysbox that keeps dying would restart forever: give up; the caller says why.
        await this.stopSysbox(Date.now() + 5_000);
        for (const name of Object.keys(SYSBOX_SOCKETS)) this.setDown(name, null);
        throw err;
      }
    }
    log.info({ sysboxRunc: runc, dataRoot: this.options.sysboxDataRoot }, 'sysbox-mgr and sysbox-fs serve');
    return runc;
  }

  private sysboxChild(part: SysboxPart, command: string, args: readonly string[]): SupervisedChild {
    const pidfile = this.paths.sysboxPidfile(part);
    return new SupervisedChild(
      {
        name: part,
        command,
        args,
        env: this.env,
        relevel: (line) => relevelSysbox(line, this.sysboxView),
        serving: (signal) => waitForFile(SYSBOX_SOCKETS[part], signal),
        beforeRestart: () => rm(SYSBOX_SOCKETS[part], { force: true }),
        spawned: (pid) => writeFile(pidfile, `${String(pid)}\n`),
        servingTimeoutMs: SYSBOX_SERVING_TIMEOUT_MS,
        reapGroup: true,
      },
      this.options.logger,
      { onDown: (reason) => { this.setDown(part, reason); } },
      this.options.control,
    );
  }

  /** sysbox-fs, then sysbox-mgr, once dockerd is gone; first noting which containers still run (none, normally). */
  private async stopSysbox(deadline: number): Promise<void> {
    if (this.sysbox.length === 0) return;
    const namespace = containerdNamespaceFor(this.options.dataRoot);
    this.sysboxView.runningContainers = shimContainerIds((await listProcesses()).map((p) => p.argv), namespace);
    this.sysboxView.stopping = true;
    for (const child of [...this.sysbox].reverse()) {
      await child.stop(deadline);
      await rm(this.paths.sysboxPidfile(child.name as SysboxPart), { force: true });
    }
  }

  /** A sysbox or dockerd of a crashed run of this daemon (named by our pid files) is stopped before we start. */
  private async stopOwnOrphans(): Promise<void> {
    for (const part of Object.keys(SYSBOX_SOCKETS) as SysboxPart[]) {
      const pidfile = this.paths.sysboxPidfile(part);
      const pid = Number.parseInt(await readFile(pidfile, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && alive(pid) && (await readFile(`/proc/${String(pid)}/comm`, 'utf8').catch(() => '')).trim() === part) {
        this.options.logger.warn({ pid }, `a ${part} of a previous run of this daemon still runs; stopping it`);
        await terminate(pid, ORPHAN_GRACE_MS);
      }
      await rm(pidfile, { force: true });
    }
  }

  /** A pid file whose dockerd still runs is our orphan from a crashed daemon: it is stopped; then files go. */
  private async cleanStaleDockerd(): Promise<void> {
    const pid = Number.parseInt(await readFile(this.paths.pidfile, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
      const cmdline = await readFile(`/proc/${String(pid)}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(this.paths.pidfile)) {
        this.options.logger.warn({ pid }, 'a dockerd of a previous run still holds our pid file; stopping it');
        await terminate(pid, ORPHAN_GRACE_MS);
      }
    }
    await rm(this.paths.pidfile, { force: true });
    await rm(this.paths.socket, { force: true });
  }

  private async otherDockerdInOurNetwork(): Promise<boolean> {
    const { netNs } = await ownNamespaces();
    return (await listProcesses()).some((p) => p.comm === 'dockerd' && !p.argv.join(' ').includes(this.paths.pidfile) && p.netNs === netNs);
  }

  private async otherSysboxInOurMountNamespace(): Promise<{ pid: number; comm: string } | undefined> {
    const { mountNs } = await ownNamespaces();
    return (await listProcesses()).find((p) => (p.comm === 'sysbox-mgr' || p.comm === 'sysbox-fs') && p.mountNs === mountNs);
  }
}

function lastWords(child: SupervisedChild | null): string {
  return child?.lastError === undefined ? '' : `; its last error: ${child.lastError}`;
}
