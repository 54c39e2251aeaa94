/** One workspace in memory: its persisted record, its observed run state and its build log. */
import type { FailureReason } from '../errors.js';
import type { InitInfo, PasswdEntry } from '../image/facts.js';
import type { BootRun, BootStatus } from './boot.js';
import { EventLog } from './event-log.js';
import { canTransition, type Phase, TransitionError } from './phase.js';
import type { WorkspaceRecord } from './store.js';

export interface GpuSummary {
  index: number;
  uuid: string;
  model: string;
}

/** What GET /v1/workspaces/{id} returns (API.md "Workspace"). */
export interface WorkspaceStatus {
  id: string;
  phase: Phase;
  reason: FailureReason | null;
  message: string | null;
  outdated: boolean;
  containerId: string | null;
  runtime: string | null;
  image: { ref: string; digest: string | null };
  init: InitInfo | null;
  gpus: GpuSummary[];
  restarts: number;
  createdAt: string;
  startedAt: string | null;
  /** Whether it is usable (boot.ts); null when it is not running. */
  boot: BootStatus | null;
}

export class Workspace {
  phase: Phase = 'pending';
  reason: FailureReason | null = null;
  message: string | null = null;
  containerId: string | null = null;
  runtime: string | null = null;
  imageId: string | null = null;
  imageDigest: string | null = null;
  init: InitInfo | null = null;
  /** The users of the container's image (its /etc/passwd): who owns the bootstrap file. */
  users: PasswdEntry[] = [];
  /** The GPUs the container was given. */
  gpus: GpuSummary[] = [];
  startedAt: string | null = null;
  /** The boot of the container's current start, while it runs. */
  boot: BootRun | null = null;
  /** The container's working directory, where the bootstrap runs. */
  workdir: string | null = null;
  /** The spec hash the current container was built from (its label). */
  containerSpecHash: string | null = null;
  /** Crashes since the workspace last ran for a while; drives the restart backoff. */
  consecutiveCrashes = 0;
  restartTimer: NodeJS.Timeout | null = null;
  /** Cancels the running pull/bootstrap when the workspace is stopped, deleted or the daemon shuts down. */
  abort = new AbortController();
  readonly log = new EventLog();

  constructor(public record: WorkspaceRecord) {}

  get id(): string {
    return this.record.id;
  }

  setPhase(next: Phase, failure?: { reason: FailureReason; message: string }): void {
    if (!canTransition(this.phase, next)) throw new TransitionError(this.phase, next);
    const changed = next !== this.phase;
    this.phase = next;
    this.reason = failure?.reason ?? null;
    this.message = failure?.message ?? null;
    if (next !== 'running' && this.boot) {
      this.boot.cancel();
      this.boot = null;
    }
    if (changed || failure) {
      this.log.append(next === 'failed' ? 'failure' : 'phase', failure ? `${next}: ${failure.reason}: ${failure.message}` : next, {
        phase: next,
        ...(failure ? { reason: failure.reason } : {}),
      });
    }
  }

  /** A fresh controller for the next operation; the previous one is aborted. */
  renewAbort(): AbortSignal {
    this.abort.abort();
    this.abort = new AbortController();
    return this.abort.signal;
  }

  status(currentSpecHash: string): WorkspaceStatus {
    return {
      id: this.id,
      phase: this.phase,
      reason: this.reason,
      message: this.message,
      outdated: this.containerSpecHash !== null && this.containerSpecHash !== currentSpecHash,
      containerId: this.containerId,
      runtime: this.runtime,
      image: { ref: this.record.spec.image, digest: this.imageDigest },
      init: this.init,
      gpus: this.gpus,
      restarts: this.record.restarts,
      createdAt: this.record.createdAt,
      startedAt: this.startedAt,
      boot: this.phase === 'running' ? (this.boot?.status ?? null) : null,
    };
  }
}
