/**
 * `cvm-supervisor serve`: wires the engine, the state store, the workspace manager and the HTTP server together,
 * declares the boot workspace from config, and returns the shutdown steps.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type App, buildApp } from './api/app.js';
import { TokenFile, TokenUnreadableError } from './api/auth.js';
import { Readiness } from './api/readiness.js';
import { type Config, ConfigError, engineHostRootFor } from './config/schema.js';
import { countingEngineErrors } from './engine/error-counting.js';
import { DockerEngine } from './engine/docker.js';
import { dockerdInstalled, EmbeddedEngine } from './engine/embedded.js';
import type { Engine, EngineInfo } from './engine/types.js';
import { readGpuNode, readNodeFacts, resolveMountSources } from './host/node-facts.js';
import { ImageFactsCache } from './image/detect.js';
import { createFactsDetector } from './image/detector.js';
import { readOpaqueWithGetfattr } from './image/layers.js';
import { InvalidDockerConfigError, parseDockerConfigJson, type RegistryCredentials } from './image/registry-auth.js';
import { Metrics } from './metrics.js';
import { runPreflight } from './preflight/gather.js';
import { nodeHostFs } from './preflight/host-fs.js';
import { cvmBlockers, type PreflightReport } from './preflight/report.js';
import type { ShutdownStep } from './shutdown.js';
import { VERSION } from './version.js';
import type { LifecycleMetrics } from './workspace/lifecycle-metrics.js';
import type { Phase } from './workspace/phase.js';
import { precheckSpec } from './workspace/container-spec.js';
import { WorkspaceFailure } from './workspace/failure.js';
import { ImageGc } from './workspace/image-gc.js';
import { checkPullFields } from './workspace/image-pull.js';
import { ImagePuller } from './workspace/image-puller.js';
import { drawPullProgress } from './workspace/pull-progress-bar.js';
import { WorkspaceManager } from './workspace/manager.js';
import { daemonPathOfEnginePath } from './workspace/node-facts.js';
import { StateStore } from './workspace/store.js';

/** How long in-flight HTTP requests get to finish at shutdown before their connections are closed. */
const HTTP_DRAIN_MS = 5_000;

/** How often image GC measures the disk (kubelet: every 5 minutes). */
const IMAGE_GC_INTERVAL_MS = 60_000;

export interface Daemon {
  engine: Engine;
  manager: WorkspaceManager;
  app: App;
  /** Resolves true once the engine answered and the workspaces were adopted; false if that failed. */
  started: Promise<boolean>;
  shutdownSteps: ShutdownStep[];
}

/** The manager with its real collaborators; `serve` and the integration tests both build it here. */
export function createManager(
  config: Config,
  engine: Engine,
  logger: Logger,
  metrics?: LifecycleMetrics,
  imageGc?: ImageGc,
  mode: 'host' | 'embedded' = 'host',
): WorkspaceManager {
  const engineHostRoot = engineHostRootFor(config, mode);
  const inspectionOwner = createHash('sha256').update(config.stateDir).digest('hex').slice(0, 16);
  const facts = new ImageFactsCache(
    createFactsDetector(engine, {
      owner: inspectionOwner,
      ...(config.imageFactsFrom === 'auto' && {
        layers: {
          daemonPathOf: (dir: string) => daemonPathOfEnginePath(dir, { hostRoot: config.hostRoot, engineHostRoot }),
          readOpaque: readOpaqueWithGetfattr,
        },
      }),
      onInspectionFallback: (imageId, reason) => {
        logger.info({ imageId, reason }, "cannot read the image's layers; detecting its facts with an inspection container");
      },
    }),
  );
  const nodeFacts = () => readNodeFacts(engine, config, engineHostRoot);
  return new WorkspaceManager({
    engine,
    store: new StateStore(config.stateDir),
    logger,
    ...(metrics ? { metrics } : {}),
    inspectionOwner,
    imageFacts: (image) => facts.get(image),
    nodeFacts,
    resolveMountSources: (sources) => resolveMountSources(config.hostRoot, sources),
    puller: new ImagePuller(engine),
    ...(imageGc ? { imageUsed: (imageId: string) => imageGc.recordUse(imageId) } : {}),
    nodeCredentials: nodePullCredentials(config),
    precheck: async (spec) => {
      checkPullFields(spec);
      const mountSources = await resolveMountSources(config.hostRoot, (spec.mounts ?? []).map((m) => m.source));
      precheckSpec(spec, await nodeFacts(), mountSources);
    },
  });
}

/**
 * The node's pull secret: CODER_IMAGE_PULL_SECRET, then --pull-secret-file, whose entries win for the same host.
 * The file is read at every pull, so a rotated Kubernetes secret takes effect without a restart.
 */
function nodePullCredentials(config: Config): () => Promise<RegistryCredentials | undefined> {
  let fromEnv: RegistryCredentials | undefined;
  try {
    fromEnv = config.bootPullSecret === undefined ? undefined : parseDockerConfigJson(config.bootPullSecret);
  } catch (err) {
    if (err instanceof InvalidDockerConfigError) throw new ConfigError('CODER_IMAGE_PULL_SECRET', `(redacted) ${err.message}`);
    throw err;
  }
  const file = config.pullSecretFile;
  if (file === undefined) return () => Promise.resolve(fromEnv);
  return async () => {
    let fromFile: RegistryCredentials;
    try {
      fromFile = parseDockerConfigJson(await readFile(file, 'utf8'));
    } catch (err) {
      const why = err instanceof InvalidDockerConfigError ? err.message : ((err as NodeJS.ErrnoException).code ?? String(err));
      throw new WorkspaceFailure('ImagePullAuthFailed', `--pull-secret-file ${file}: ${why}`);
    }
    return new Map([...(fromEnv ?? []), ...fromFile]);
  };
}

/**
 * The envbox-style workspace declared by config. Unlike a PUT, a changed declaration is applied at once: an envbox
 * user who changes CODER_INNER_IMAGE and restarts the pod expects the new image. It pulls only what is missing.
 */
async function declareBootWorkspace(manager: WorkspaceManager, config: Config, logger: Logger): Promise<void> {
  if (!config.bootWorkspace) return;
  const { id, spec } = config.bootWorkspace;
  const { created, status } = await manager.put(id, spec);
  // On a terminal the boot workspace's pull shows as a progress bar (stderr: stdout carries the log).
  const log = manager.workspace(id)?.log;
  if (process.stderr.isTTY && log) drawPullProgress(log, (text) => process.stderr.write(text), `pulling ${spec.image}`);
  if (!created && status.outdated) {
    logger.info({ workspace: id }, 'the boot workspace declaration changed; rebuilding');
    await manager.rebuild(id, { pull: false });
  } else {
    logger.info({ workspace: id, created }, 'declared the boot workspace');
  }
}

/** Waits for the engine with capped backoff: the daemon serves /healthz before the engine is up. */
async function connectEngine(engine: Engine, logger: Logger, signal: AbortSignal): Promise<EngineInfo> {
  for (let attempt = 1; ; attempt++) {
    try {
      await engine.ping();
      return await engine.info();
    } catch (err) {
      if (signal.aborted) throw err;
      if (attempt === 1) logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'the engine does not answer yet; retrying');
      await sleep(Math.min(500 * 2 ** attempt, 30_000), undefined, { signal });
    }
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Without a token file /v1 is open, so it may only be reachable from the node itself. */
function openTokens(config: Config, logger: Logger): TokenFile | null {
  if (config.tokenFile === undefined) {
    if (!isLoopback(config.listen.host)) {
      throw new ConfigError('--listen', `${config.listen.host} is not a loopback address; without --token-file the API may only listen on loopback`);
    }
    logger.warn({ listen: config.listen.host }, 'no --token-file: /v1 needs no token, so the API listens on loopback only');
    return null;
  }
  try {
    return new TokenFile(config.tokenFile, logger);
  } catch (err) {
    if (err instanceof TokenUnreadableError) throw new ConfigError('--token-file', err.message);
    throw err;
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

/** `--engine auto`: host when a Docker socket answers, else embedded when dockerd is installed, else an error. */
async function chooseEngineMode(config: Config, logger: Logger): Promise<'host' | 'embedded'> {
  if (config.engine !== 'auto') return config.engine;
  const answers = await new DockerEngine({ dockerHost: config.dockerHost }).ping(2000).then(() => true, () => false);
  const mode = answers ? 'host' : (await dockerdInstalled()) ? 'embedded' : null;
  if (mode === null) throw new ConfigError('--engine', `auto: no engine answers at ${config.dockerHost} and dockerd is not installed`);
  logger.info({ engine: mode, dockerHost: config.dockerHost }, `--engine auto chose ${mode}`);
  return mode;
}

export async function startDaemon(config: Config, logger: Logger): Promise<Daemon> {
  const mode = await chooseEngineMode(config, logger);
  const tokens = openTokens(config, logger);
  let started = false;
  // The manager is made below; the gauge reads it only at scrape time.
  const phases = (): Iterable<Phase> => manager.phases();
  const gpus = () => readGpuNode(config);
  const metrics = new Metrics(VERSION, phases, gpus);
  const dockerEngine = new DockerEngine({ dockerHost: mode === 'embedded' ? `unix://${path.join(config.runDir, 'docker.sock')}` : config.dockerHost });
  const engine = countingEngineErrors(dockerEngine, (op) => {
    metrics.engineError(op);
  });
  const embedded =
    mode === 'embedded'
      ? new EmbeddedEngine({
          dataRoot: config.dataRoot,
          runDir: config.runDir,
          logger,
          startDeadlineMs: config.engineStartTimeout * 1000,
          pingIntervalMs: Math.max(config.enginePingInterval * 1000, 10),
          ping: () => dockerEngine.ping(1000),
          onEngineRestarted: () => {
            if (started) void manager.resyncAfterEngineRestart().catch((err: unknown) => { logger.error({ err }, 'resync after the engine restart failed'); });
          },
        })
      : null;
  const imageGc = new ImageGc({
    engine,
    stateDir: config.stateDir,
    highPercent: config.imageGcHighPercent,
    lowPercent: config.imageGcLowPercent,
    diskPath: async () => path.join(config.hostRoot, (await engine.info()).dockerRootDir ?? '/var/lib/docker'),
    needed: () => manager.neededImages(),
    logger,
    onReclaimed: (bytes, images) => {
      metrics.imageGcReclaimed(bytes, images);
    },
  });
  const manager = createManager(config, engine, logger, metrics, imageGc, mode);
  const preflight = () => runPreflight(nodeHostFs, engine, config);
  let blockers = ['the preflight checks have not finished'];
  const readiness = new Readiness(engine, { cvmEnabled: config.cvmEnabled, cvmRuntime: config.runtime, started: () => started, cvmBlockers: () => blockers, engineDown: () => embedded?.reasons() ?? [] });
  const app = await buildApp({
    logger,
    engine,
    manager,
    metrics,
    readiness,
    tokens,
    started: () => started,
    cvmRuntime: config.runtime,
    cvmEnabled: config.cvmEnabled,
    preflight,
    gpus,
    version: VERSION,
  });
  await app.listen({ host: config.listen.host, port: config.listen.port });
  await embedded?.prepare();
  void checkNode(preflight, config, logger).then((found) => {
    blockers = found;
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
    await manager.init();
    started = true;
    if (config.imageGcHighPercent < 100) imageGc.start(IMAGE_GC_INTERVAL_MS);
    await declareBootWorkspace(manager, config, logger);
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
    },
    async (deadline) => {
      stopConnecting.abort();
      imageGc.stop();
      if (await startup) await manager.shutdown(config.shutdownPolicy, deadline);
      tokens?.close();
    },
    // The engine goes after its workspaces; sysbox after the engine.
    async (deadline) => {
      await embedded?.stop(deadline);
    },
  ];
  return { engine, manager, app, started: startup, shutdownSteps };
}
