/**
 * Readiness: the engine answers (a ping with a short timeout, cached so probes never pile up on the engine), the
 * CVM runtime is registered while CVMs are enabled, the workspaces are loaded, /v1 has a usable token (when it
 * needs one), and the daemon is not shutting down.
 */
import type { EngineSystem } from '../engine/types.js';

export interface ReadinessOptions {
  cvmEnabled: boolean;
  cvmRuntime: string;
  /** Whether the manager has loaded and adopted the workspaces. */
  started: () => boolean;
  /** The startup step being retried and why it failed (loading the workspaces, the boot workspace); none by default. */
  startupProblem?: () => string | null;
  /** Why CVMs are impossible on this node (failed preflight checks, see preflight/report.ts); none by default. */
  cvmBlockers?: () => string[];
  /** Why a supervised engine is down (embedded mode: a child awaits its restart); none by default. */
  engineDown?: () => string[];
  /** Why /v1 denies every caller (the token file was emptied, deleted or holds a refused token); none by default. */
  apiLocked?: () => string[];
  cacheMs?: number;
  pingTimeoutMs?: number;
}

export class Readiness {
  private shuttingDown = false;
  private cached: { at: number; reasons: Promise<string[]> } | null = null;

  constructor(
    private readonly engine: EngineSystem,
    private readonly options: ReadinessOptions,
  ) {}

  /** From now on the daemon answers unready, at once (SIGTERM). */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  /** Why the daemon is not ready; empty when it is. */
  async reasons(): Promise<string[]> {
    const reasons = this.shuttingDown ? ['shutting down'] : [];
    if (!this.options.started()) reasons.push('workspaces not loaded yet');
    const problem = this.options.startupProblem?.();
    if (problem) reasons.push(problem);
    // Standard workspaces could still run, but a CVM node that cannot run CVMs must not look ready.
    if (this.options.cvmEnabled) reasons.push(...(this.options.cvmBlockers?.() ?? []));
    reasons.push(...(this.options.engineDown?.() ?? []));
    reasons.push(...(this.options.apiLocked?.() ?? []));
    return [...reasons, ...(await this.engineReasons())];
  }

  private engineReasons(): Promise<string[]> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < (this.options.cacheMs ?? 2000)) return this.cached.reasons;
    const reasons = this.checkEngine();
    this.cached = { at: now, reasons };
    return reasons;
  }

  private async checkEngine(): Promise<string[]> {
    try {
      await this.engine.ping(this.options.pingTimeoutMs ?? 1000);
      if (!this.options.cvmEnabled) return [];
      const { runtimes } = await this.engine.info();
      return runtimes.includes(this.options.cvmRuntime) ? [] : [`the engine has no ${this.options.cvmRuntime} runtime`];
    } catch (err) {
      return [`engine unreachable: ${err instanceof Error ? err.message : String(err)}`];
    }
  }
}
