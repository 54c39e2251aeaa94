/**
 * `cvm-supervisor serve`, the process's life: it listens at once (so /healthz answers), waits for the engine with
 * backoff, adopts the workspaces and declares the boot workspace; and the shutdown steps that undo it, in order.
 */
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { App } from '../api/app.js';
import { type Backoff, backoffMs } from '../backoff.js';
import type { Config } from '../config/schema.js';
import type { Engine, EngineInfo, EngineSystem } from '../engine/types.js';
import type { WorkspaceManager } from '../lifecycle/manager.js';
import { cvmBlockers, type PreflightReport } from '../preflight/report.js';
import { VERSION } from '../version.js';
import { ApiFirewall } from './api-firewall.js';
import { declareBootWorkspace } from './boot-workspace.js';
import { chooseEngineMode } from './engine-mode.js';
import type { ShutdownStep } from './shutdown.js';
import { retryUntilDone } from './startup.js';
import { type DaemonStatus, wireDaemon } from './wiring.js';

/** How long in-flight HTTP requests get to finish at shutdown before their connections are closed. */
const HTTP_DRAIN_MS = 5_000;

/** How often image GC measures the disk (kubelet: every 5 minutes). */
const IMAGE_GC_INTERVAL_MS = 60_000;

export interface Daemon {
  engine: Engine;
  manager: WorkspaceManager;
  app: App;
  /**
   * Resolves true once the engine answered, the workspaces were adopted and the boot workspace declared (each
   * retried until it succeeds); false when the daemon shut down first.
   */
  started: Promise<boolean>;
  shutdownSteps: ShutdownStep[];
}

/** How long the daemon waits for the engine between tries: 1 s doubling to 30 s. */
const ENGINE_WAIT: Backoff = { baseMs: 1000, maxMs: 30_000 };

/** Waits for the engine with capped backoff: the daemon serves /healthz before the engine is up. */
async function connectEngine(engine: EngineSystem, logger: Logger, signal: AbortSignal): Promise<EngineInfo> {
  for (let attempt = 1; ; attempt++) {
    try {
      await engine.ping();
      return await engine.info();
    } catch (err) {
      if (signal.aborted) throw err;
      if (attempt === 1) logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'the engine does not answer yet; retrying');
      await sleep(backoffMs(attempt, ENGINE_WAIT), undefined, { signal });
    }
  }
}

/** The preflight at start: logs every finding; returns why CVMs are impossible here (nothing while CVMs are off). */
async function checkNode(preflight: () => Promise<PreflightReport>, config: Config, logger: Logger): Promise<string[]> {
  const report = await preflight();
  for (const check of report.checks) {
    if (check.status === 'pass') continue;
    logger[check.status === 'fail' ? 'error' : 'warn']({ check: check.id, evidence: check.evidence, hint: check.hint }, `preflight ${check.id}: ${check.status}`);
  }
  const found = cvmBlockers(report);
  if (found.length > 0) logger.error({ reasons: found }, 'CVMs are impossible on this node: not ready while --cvm-enabled is true');
  else logger.info({ ok: report.ok, cvmEnabled: config.cvmEnabled }, 'preflight done');
  return found;
}

export async function startDaemon(config: Config, logger: Logger): Promise<Daemon> {
  const mode = await chooseEngineMode(config, logger);
  const status: DaemonStatus = { started: false, startupProblem: null, cvmBlockers: ['the preflight checks have not finished'] };
  const { tokens, engine, embedded, metrics, imageGc, manager, preflight, readiness, app } = await wireDaemon(config, logger, mode, status);
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const firewall = config.blockApiFromBridges.length > 0 ? new ApiFirewall(config.blockApiFromBridges, config.listen.host, logger) : null;
  await firewall?.install((app.server.address() as AddressInfo).port).catch(async (err: unknown) => {
    await firewall.remove();
    await app.close();
    throw err;
  });
  await embedded?.prepare();
  void checkNode(preflight, config, logger).then((found) => {
    status.cvmBlockers = found;
  });

  const stopConnecting = new AbortController();
  const startup = (async () => {
    await embedded?.start(stopConnecting.signal);
    const info = await connectEngine(engine, logger, stopConnecting.signal);
    metrics.engineVersion(info.serverVersion, VERSION);
    logger.info({ engine: info.serverVersion, runtimes: info.runtimes, cvmRuntime: config.runtime }, 'connected to the engine');
    if (config.cvmEnabled && !info.runtimes.includes(config.runtime)) {
      logger.warn({ runtime: config.runtime }, 'the engine lacks the CVM runtime: CVM workspaces will be refused (RuntimeMissing)');
    }
    const retry = {
      logger,
      signal: stopConnecting.signal,
      report: (problem: string | null) => {
        status.startupProblem = problem;
      },
    };
    await retryUntilDone('loading the workspaces', () => manager.init(), retry);
    status.started = true;
    if (config.imageGcHighPercent < 100) imageGc.start(IMAGE_GC_INTERVAL_MS);
    await retryUntilDone('declaring the boot workspace', () => declareBootWorkspace(manager, config, logger), retry);
    return true;
  })().catch((err: unknown) => {
    if (!stopConnecting.signal.aborted) logger.error({ err }, 'the daemon could not start its workspaces');
    return false;
  });

  const shutdownSteps: ShutdownStep[] = [
    () => {
      readiness.markShuttingDown();
      return Promise.resolve();
    },
    // Stops accepting connections and lets in-flight requests finish, for a while: a connection that lingers
    // (seen now and then under load, cause not yet found) must not eat the budget the workspaces need.
    async () => {
      const forced = setTimeout(() => {
        logger.warn({ afterMs: HTTP_DRAIN_MS }, 'closing the HTTP connections still open');
        app.server.closeAllConnections();
      }, HTTP_DRAIN_MS);
      await app.close();
      clearTimeout(forced);
      await firewall?.remove();
    },
    // The policy applies to every workspace loaded, also when the boot workspace could not be declared.
    async (deadline) => {
      stopConnecting.abort();
      imageGc.stop();
      await startup;
      try {
        if (status.started) await manager.shutdown(config.shutdownPolicy, deadline);
        else logger.warn({ policy: config.shutdownPolicy }, 'the workspaces were never loaded: the shutdown policy had nothing to act on');
      } finally {
        tokens?.close();
      }
    },
    // The engine goes after its workspaces; sysbox after the engine.
    async (deadline) => {
      await embedded?.stop(deadline);
    },
  ];
  return { engine, manager, app, started: startup, shutdownSteps };
}
