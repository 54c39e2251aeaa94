/**
 * What `serve` wires to what: the engine (the node's, or embedded mode's own dockerd) with its errors counted, metrics,
 * image GC, the workspace manager with its real collaborators, readiness and the HTTP app. Building them starts
 * nothing: run.ts does, and stops them again.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import { type App, buildApp } from '../api/app.js';
import { TokenFile, TokenUnreadableError } from '../api/auth.js';
import { Readiness } from '../api/readiness.js';
import { type Config, ConfigError, engineHostRootFor } from '../config/schema.js';
import { isLoopbackHost } from '../config/values.js';
import { precheckSpec } from '../container/container-spec.js';
import { daemonPathOfEnginePath } from '../container/host-paths.js';
import { DockerEngine } from '../engine/docker.js';
import { EmbeddedEngine } from '../engine/embedded.js';
import { embeddedPaths } from '../engine/embedded-plan.js';
import { countingEngineErrors } from '../engine/error-counting.js';
import { cachingInfo } from '../engine/info-cache.js';
import type { Engine } from '../engine/types.js';
import { checkPullFields } from '../image/ensure-image.js';
import { createFactsDetector, ImageFactsCache } from '../image/facts-detector.js';
import { ImageGc } from '../image/image-gc.js';
import { ImagePuller } from '../image/image-puller.js';
import { readOpaqueWithGetfattr } from '../image/layers.js';
import type { LifecycleMetrics } from '../lifecycle/lifecycle-metrics.js';
import { WorkspaceManager } from '../lifecycle/manager.js';
import { checkWorkspaceVolumes } from '../lifecycle/volumes.js';
import type { Phase } from '../lifecycle/phase.js';
import { StateStore } from '../lifecycle/store.js';
import { Metrics } from '../metrics.js';
import { type Place, placeOf } from '../preflight/place.js';
import type { PreflightReport } from '../preflight/report.js';
import { VERSION } from '../version.js';
import { hostEngineOptions, warnOfPlaintextEngine } from './engine-link.js';
import { daemonPreflight, nodeFiles, readGpuNode, readNodeFacts, resolveMountSources } from './host-readers.js';
import { nodePullCredentials } from './pull-secrets.js';
import { checkAllowedMountRoots, checkCvmRuntime } from './start-checks.js';

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
  const inspectionOwner = inspectionOwnerFor(config);
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
  const files = nodeFiles(config);
  const host = files.host;
  const nodeFacts = () => readNodeFacts(files, engine, config, engineHostRoot);
  return new WorkspaceManager({
    engine,
    store: new StateStore(config.stateDir),
    logger,
    ...(metrics ? { metrics } : {}),
    inspectionOwner,
    ...(config.instance !== undefined && { instance: config.instance }),
    imageFacts: (image) => facts.get(image),
    nodeFacts,
    resolveMountSources: (sources) => resolveMountSources(host, sources),
    puller: new ImagePuller(engine),
    ...(imageGc ? { imageUsed: (imageId: string) => imageGc.recordUse(imageId) } : {}),
    nodeCredentials: nodePullCredentials(config),
    bootTimeoutMs: config.bootTimeout * 1000,
    precheck: async (spec, id) => {
      checkPullFields(spec);
      // The three reads run side by side (they are most of a PUT's time); their refusals come in this fixed order.
      const [volumes, mountSources, node] = await Promise.allSettled([
        checkWorkspaceVolumes(engine, id, spec, config.instance),
        resolveMountSources(host, (spec.mounts ?? []).map((m) => m.source)),
        nodeFacts(),
      ]);
      if (volumes.status === 'rejected') throw volumes.reason;
      precheckSpec(spec, settledValue(node), settledValue(mountSources));
    },
  });
}

function settledValue<T>(result: PromiseSettledResult<T>): T {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

/**
 * The owner label of this daemon's inspection containers (image/inspection-container.ts): its --instance, else its
 * state dir's digest, so that daemons sharing an engine each clean up only their own leftovers.
 */
export function inspectionOwnerFor(config: Pick<Config, 'instance' | 'stateDir'>): string {
  return config.instance ?? createHash('sha256').update(config.stateDir).digest('hex').slice(0, 16);
}

/** How far the daemon has come; the parts read it, run.ts writes it. */
export interface DaemonStatus {
  /** The engine answered and the workspaces were adopted. */
  started: boolean;
  /** The startup step being retried and why it failed; null when none is. */
  startupProblem: string | null;
  /** Why CVMs are impossible on this node (failed preflight checks). */
  cvmBlockers: string[];
}

export interface DaemonParts {
  tokens: TokenFile | null;
  engine: Engine;
  /** The daemon's own dockerd (and sysbox) in embedded mode; null in host mode. */
  embedded: EmbeddedEngine | null;
  metrics: Metrics;
  imageGc: ImageGc;
  manager: WorkspaceManager;
  preflight: () => Promise<PreflightReport>;
  readiness: Readiness;
  app: App;
  /** In a Kubernetes pod or on a machine of its own: the messages name what fits. */
  place: Place;
}

/** How long the engine's /info answer (runtimes, data root, version) is reused: see engine/info-cache.ts. */
export const ENGINE_INFO_MAX_AGE_MS = 10_000;

export async function wireDaemon(config: Config, logger: Logger, mode: 'host' | 'embedded', status: DaemonStatus): Promise<DaemonParts> {
  checkCvmRuntime(config, logger);
  await checkAllowedMountRoots(config, nodeFiles(config));
  const tokens = openTokens(config, logger);
  // The manager is made below; the gauge reads it only at scrape time.
  const phases = (): Iterable<Phase> => manager.phases();
  const gpus = () => readGpuNode(config);
  const metrics = new Metrics(VERSION, phases, gpus);
  if (mode === 'host') warnOfPlaintextEngine(config, logger);
  const engineHost = mode === 'embedded' ? `unix://${embeddedPaths(config.runDir).socket}` : config.dockerHost;
  const dockerEngine = new DockerEngine(mode === 'embedded' ? { dockerHost: engineHost } : hostEngineOptions(config));
  const engine = cachingInfo(
    countingEngineErrors(dockerEngine, (op) => {
      metrics.engineError(op);
    }),
    ENGINE_INFO_MAX_AGE_MS,
  );
  const embedded =
    mode === 'embedded'
      ? new EmbeddedEngine({
          dataRoot: config.dataRoot,
          runDir: config.runDir,
          sysboxDataRoot: config.sysboxDataRoot,
          sysbox: config.cvmEnabled,
          logger,
          startDeadlineMs: config.engineStartTimeout * 1000,
          pingIntervalMs: Math.max(config.enginePingInterval * 1000, 10),
          ping: () => dockerEngine.ping(1000),
          onEngineRestarted: () => {
            engine.forgetInfo();
            if (status.started) void manager.resyncAfterEngineRestart().catch((err: unknown) => { logger.error({ err }, 'resync after the engine restart failed'); });
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
    onBookkeepingError: (error) => {
      metrics.stateFileError('image-usage', error);
    },
  });
  const manager = createManager(config, engine, logger, metrics, imageGc, mode);
  const place = await placeOf(process.env, nodeFiles(config).daemonFiles);
  const preflight = daemonPreflight(config, engine, { mode, engineHost, place });
  const readiness = new Readiness(engine, {
    cvmEnabled: config.cvmEnabled, cvmRuntime: config.runtime, started: () => status.started, startupProblem: () => status.startupProblem, cvmBlockers: () => status.cvmBlockers,
    engineDown: () => embedded?.reasons() ?? [], apiLocked: () => tokenRevocation(tokens),
  });
  const app = await buildApp({
    logger,
    engine,
    manager,
    metrics,
    readiness,
    api: config.api,
    tokens,
    started: () => status.started,
    cvmRuntime: config.runtime,
    cvmEnabled: config.cvmEnabled,
    preflight,
    gpus,
    version: VERSION,
  });
  return { tokens, engine, embedded, metrics, imageGc, manager, preflight, readiness, app, place };
}

function tokenRevocation(tokens: TokenFile | null): string[] {
  const why = tokens?.revokedBecause() ?? null;
  return why === null ? [] : [`no usable API token (${why}): /v1 denies every request`];
}

/** Without a token file /v1 is open, so it may only be reachable from the node itself; probes-only has no /v1. */
function openTokens(config: Config, logger: Logger): TokenFile | null {
  if (config.api === 'probes-only') return null;
  if (config.tokenFile === undefined) {
    if (!isLoopbackHost(config.listen.host)) {
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
