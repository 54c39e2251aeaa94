/**
 * `cvm-supervisor serve`, the process's life: it listens at once (so /healthz answers), waits for the engine with
 * backoff, adopts the workspaces and declares the boot workspace; and the shutdown steps that undo it, in order.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { App } from '../api/app.js';
import { type Backoff, backoffMs } from '../backoff.js';
import type { Config } from '../config/schema.js';
import { EmbeddedSetupError } from '../engine/embedded.js';
import type { Engine, EngineInfo, EngineSystem } from '../engine/types.js';
import type { WorkspaceManager } from '../lifecycle/manager.js';
import { type Place, placeName } from '../preflight/place.js';
import { cvmBlockers, type PreflightReport } from '../preflight/report.js';
import { VERSION } from '../version.js';
import { ApiFirewall, type FirewallFault } from './api-firewall.js';
import { declareBootWorkspace } from './boot-workspace.js';
import { chooseEngineMode, startOwnEngine } from './engine-mode.js';
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
  /** Resolves, with the reason, only when the daemon cannot run here at all (embedded mode's setup): it must exit 1. */
  fatal: Promise<string>;
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
async function checkNode(preflight: () => Promise<PreflightReport>, config: Config, logger: Logger, place: Place): Promise<string[]> {
  const report = await preflight();
  for (const check of report.checks) {
    if (check.status === 'pass') continue;
    logger[check.status === 'fail' ? 'error' : 'warn']({ check: check.id, evidence: check.evidence, hint: check.hint }, `preflight ${check.id}: ${check.status}`);
  }
  const found = cvmBlockers(report);
  if (found.length > 0) logger.error({ reasons: found }, `CVMs are impossible on ${placeName(place)}: not ready while --cvm-enabled is true`);
  else logger.info({ ok: report.ok, cvmEnabled: config.cvmEnabled }, 'preflight done');
  return found;
}

/** The port the app listens on (the configured one, or the one the kernel chose for port 0). */
function listeningPort(app: App): number {
  const address = app.server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

function ownBridgeFault(bridge: string): FirewallFault {
  return (failed) => new EmbeddedSetupError(`cannot keep workspaces on ${bridge} off the daemon's port (embedded mode needs iptables and CAP_NET_ADMIN): ${failed}`);
}

export async function startDaemon(config: Config, logger: Logger): Promise<Daemon> {
  const { mode, why } = await chooseEngineMode(config);
  const status: DaemonStatus = { started: false, startupProblem: null, cvmBlockers: ['the preflight checks have not finished'] };
  const { tokens, engine, embedded, metrics, imageGc, manager, preflight, readiness, app, place } = await wireDaemon(config, logger, mode, status);
  // After wiring, whose config errors exit 2 with nothing logged before them.
  if (config.engine === 'auto') logger.info({ engine: mode, why }, `--engine auto chose ${mode}: ${why}`);
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const port = listeningPort(app);
  const firewall = config.blockApiFromBridges.length > 0 ? new ApiFirewall(config.blockApiFromBridges, config.listen.host, logger) : null;
  await firewall?.install(port).catch(async (err: unknown) => {
    await firewall.remove();
    await app.close();
    throw err;
  });
  // Embedded mode's own bridge always gets the rule: the daemon owns that bridge and the network it is in.
  const ownBridgeFirewall = embedded ? new ApiFirewall([embedded.bridge], config.listen.host, logger, undefined, ownBridgeFault(embedded.bridge)) : null;
  let onFatal: (reason: string) => void = () => undefined;
  const fatal = new Promise<string>((resolve) => {
    onFatal = resolve;
  });
  const stopConnecting = new AbortController();
  const ownEngine = embedded && ownBridgeFirewall ? startOwnEngine(embedded, () => ownBridgeFirewall.install(port), stopConnecting.signal, logger, onFatal) : Promise.resolve(true);
  // Embedded mode checks the engine it runs, so its preflight waits until that engine answers (or failed to).
  void ownEngine.then(async () => {
    if (embedded?.stopped !== true) status.cvmBlockers = await checkNode(preflight, config, logger, place);
  });

  const startup = (async () => {
    if (!(await ownEngine)) return false;
    const info = await connectEngine(engine, logger, stopConnecting.signal);
    metrics.engineVersion(info.serverVersion, VERSION);
    logger.info({ engine: info.serverVersion, runtimes: info.runtimes, cvmRuntime: config.runtime }, 'connected to the engine');
    if (config.cvmEnabled && !info.runtimes.includes(config.runtime)) {
      logger.warn({ runtime: config.runtime }, `the engine lacks the CVM runtime: CVM workspaces will be refused (RuntimeMissing); install sysbox, which registers ${config.runtime}`);
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
    // The engine goes after its workspaces; sysbox after the engine; the bridge's rule after the bridge.
    async (deadline) => {
      await embedded?.stop(deadline);
      await ownBridgeFirewall?.remove();
    },
  ];
  return { engine, manager, app, started: startup, fatal, shutdownSteps };
}
