/**
 * Boot readiness: whether a running workspace is usable, not just started. A boot waits for its init to settle
 * (systemd: `is-system-running` says running or degraded; another init or keepalive: PID 1 runs) and, when the spec
 * has one, for the bootstrap script to exit 0. It is `booting` until then, `ready` when every part succeeded,
 * `failed` at the first that did not. One boot per start of the container; it ends when the workspace leaves
 * `running`. The settled boot is kept in the record, so a restarted daemon does not boot an adopted workspace again.
 */
import type { Logger } from 'pino';
import type { InitMode } from '../image/facts.js';
import { type BootExec, bootstrapOutcome, type PartOutcome, systemdSettled } from './boot-checks.js';
import type { LogEvent } from './event-log.js';
import type { Workspace } from './workspace.js';

export const BOOT_STATES = ['booting', 'ready', 'failed'] as const;
export type BootState = (typeof BOOT_STATES)[number];

export interface BootStatus {
  state: BootState;
  readyAt: string | null;
  detail: string | null;
}

/** A settled boot as the record keeps it, with the container start it belongs to. */
export interface SettledBoot extends BootStatus {
  startedAt: string;
}

export type BootPart = 'init' | 'bootstrap';

/** Lines of the bootstrap's output that a failed boot's event repeats. */
const LAST_LINES = 10;

/** Pure: the parts' outcomes, combined into a status that settles once. */
export class BootMachine {
  private readonly outcomes = new Map<BootPart, PartOutcome>();
  private current: BootStatus = { state: 'booting', readyAt: null, detail: null };

  constructor(private readonly parts: readonly BootPart[]) {}

  static settled(status: BootStatus): BootMachine {
    const machine = new BootMachine([]);
    machine.current = status;
    return machine;
  }

  get status(): BootStatus {
    return this.current;
  }

  /** The status when this outcome settles the boot; null while it is still booting, or for a part already decided. */
  settle(part: BootPart, outcome: PartOutcome, at: Date): BootStatus | null {
    if (this.current.state !== 'booting' || !this.parts.includes(part) || this.outcomes.has(part)) return null;
    this.outcomes.set(part, outcome);
    if (!outcome.ok) {
      this.current = { state: 'failed', readyAt: null, detail: outcome.detail };
    } else if (this.parts.every((p) => this.outcomes.get(p)?.ok === true)) {
      this.current = { state: 'ready', readyAt: at.toISOString(), detail: this.parts.map((p) => this.outcomes.get(p)?.detail).join('; ') };
    } else {
      return null;
    }
    return this.current;
  }
}

/** One boot: its machine, and the checks it runs until the workspace leaves `running`. */
export class BootRun {
  private readonly controller = new AbortController();

  constructor(
    readonly machine: BootMachine,
    /** The container start this boot belongs to. */
    readonly startedAt: string,
    /** Whether the record keeps it once settled: not an init without bootstrap, ready at its start again after a restart. */
    readonly kept: boolean,
  ) {}

  get status(): BootStatus {
    return this.machine.status;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The workspace left `running`, or the daemon shuts down: the checks stop, and nothing settles any more. */
  cancel(): void {
    this.controller.abort();
  }
}

export interface BootDeps {
  exec: BootExec;
  /** How long systemd may take to settle before the boot fails. */
  timeoutMs: number;
  /** Writes the workspace's record (with its settled boot). */
  persist: (ws: Workspace) => Promise<void>;
  /** How long a boot took from the container's start, observed when it is ready. */
  booted?: (mode: InitMode, seconds: number) => void;
  logger: Logger;
}

/** Starts, restores and settles the boots of workspaces: the lifecycle's operations call it after a start and at adoption. */
export class Boots {
  /** Settled boots being written to their records. */
  private readonly writes = new Set<Promise<void>>();

  constructor(private readonly deps: BootDeps) {}

  /** Once every settled boot being written is on disk (or failed to be): shutdown waits for it. */
  async written(): Promise<void> {
    await Promise.all(this.writes);
  }

  /** The container just started: follow its init and, when given, the bootstrap script's run. */
  started(ws: Workspace, bootstrap: Promise<number> | null): void {
    // The bootstrap's own signal: renewed (so aborted) when another operation begins, ending its exec's stream.
    const bootstrapSignal = ws.abort.signal;
    const run = this.begin(ws, bootstrap !== null);
    if (!run) return;
    const firstSeq = ws.log.snapshot().at(-1)?.seq ?? 0;
    this.followInit(ws, run, true);
    if (bootstrap) {
      void bootstrapOutcome(bootstrap, bootstrapSignal).then((outcome) => {
        this.settle(ws, run, 'bootstrap', outcome, true, outcome.ok ? undefined : firstSeq);
      });
    }
  }

  /**
   * A running container was adopted after a daemon restart: the boot the record settled for this very start is
   * restored as it was, and so is that of an init without a bootstrap (ready since PID 1 started), without a new
   * entry. Otherwise it is found out again: systemd answers at once once booted; a bootstrap that the previous
   * daemon ran has an exit no one knows.
   */
  adopted(ws: Workspace): void {
    const kept = ws.record.boot;
    if (kept && kept.startedAt === ws.startedAt && kept.state !== 'booting') {
      ws.boot = new BootRun(BootMachine.settled({ state: kept.state, readyAt: kept.readyAt, detail: kept.detail }), kept.startedAt, true);
      return;
    }
    const mode = ws.init?.mode;
    if (!ws.record.spec.bootstrap && mode !== undefined && mode !== 'systemd' && ws.startedAt !== null) {
      ws.boot = new BootRun(BootMachine.settled({ state: 'ready', readyAt: new Date(ws.startedAt).toISOString(), detail: pidOneRuns(mode) }), ws.startedAt, false);
      return;
    }
    const run = this.begin(ws, ws.record.spec.bootstrap !== undefined);
    if (!run) return;
    if (ws.record.spec.bootstrap) {
      this.settle(ws, run, 'bootstrap', { ok: false, detail: 'bootstrap: its exit is unknown, the daemon restarted while it ran' }, false);
    } else {
      this.followInit(ws, run, false);
    }
  }

  private begin(ws: Workspace, withBootstrap: boolean): BootRun | null {
    ws.boot?.cancel();
    ws.boot = null;
    if (ws.startedAt === null || ws.containerId === null || ws.init === null) return null;
    const parts: BootPart[] = withBootstrap ? ['init', 'bootstrap'] : ['init'];
    ws.boot = new BootRun(new BootMachine(parts), ws.startedAt, withBootstrap || ws.init.mode === 'systemd');
    return ws.boot;
  }

  private followInit(ws: Workspace, run: BootRun, observed: boolean): void {
    const mode = ws.init?.mode ?? 'keepalive';
    if (mode !== 'systemd') {
      // PID 1 has run since the start; readiness counts from then.
      this.settle(ws, run, 'init', { ok: true, detail: pidOneRuns(mode) }, observed, undefined, new Date(run.startedAt));
      return;
    }
    const containerId = ws.containerId ?? '';
    void systemdSettled(this.deps.exec, containerId, { timeoutMs: this.deps.timeoutMs, signal: run.signal }).then((outcome) => {
      if (outcome) this.settle(ws, run, 'init', outcome, observed);
    });
  }

  /**
   * Records a part's outcome; when it settles the boot (and the boot is still the workspace's): the build log's
   * `boot` event, the histogram (for boots followed from their start) and the record. A failed bootstrap's event
   * repeats its last lines of output (those after `outputAfterSeq`).
   */
  private settle(ws: Workspace, run: BootRun, part: 'init' | 'bootstrap', outcome: PartOutcome, observed: boolean, outputAfterSeq?: number, at = new Date()): void {
    if (ws.boot !== run || run.signal.aborted) return;
    const status = run.machine.settle(part, outcome, at);
    if (!status) return;
    const lastLines = outputAfterSeq === undefined ? [] : bootstrapLines(ws.log.snapshot(), outputAfterSeq);
    ws.log.append('boot', `${status.state}: ${status.detail ?? ''}`, { ...status, ...(lastLines.length > 0 ? { lastLines } : {}) });
    this.deps.logger.info({ workspace: ws.id, boot: status.state, detail: status.detail }, `workspace ${ws.id} boot is ${status.state}`);
    const mode = ws.init?.mode;
    if (observed && status.readyAt !== null && mode) this.deps.booted?.(mode, (Date.parse(status.readyAt) - Date.parse(run.startedAt)) / 1000);
    if (!run.kept || ws.record.pending?.op === 'delete') return;
    ws.record.boot = { ...status, startedAt: run.startedAt };
    const write = this.deps.persist(ws).catch((err: unknown) => {
      this.deps.logger.warn({ workspace: ws.id, err }, "could not write the workspace's settled boot; a restarted daemon will find it out again");
    });
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
  }
}

/** The bootstrap's output lines after `afterSeq`, the last few. */
function bootstrapLines(entries: readonly LogEvent[], afterSeq: number): string[] {
  return entries
    .filter((e) => e.seq > afterSeq && e.kind === 'bootstrap' && e.data?.['stream'] !== undefined)
    .slice(-LAST_LINES)
    .map((e) => e.message);
}

/** An init or keepalive workspace's init part: done once PID 1 runs. */
function pidOneRuns(mode: InitMode): string {
  return `${mode}: PID 1 runs`;
}
