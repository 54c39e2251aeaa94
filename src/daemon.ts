/**
 * `cvm-supervisor serve`: wires the engine, the state store, the workspace manager and the HTTP server together,
 * declares the boot workspace from config, and returns the shutdown steps.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type App, buildApp } from './api/app.js';
import { type Config, engineHostRootFor } from './config/schema.js';
import { DockerEngine } from './engine/docker.js';
import type { Engine, EngineInfo } from './engine/types.js';
import { readNodeFacts, resolveMountSources } from './host/node-facts.js';
import { detectImageFacts, ImageFactsCache } from './image/detect.js';
import type { ShutdownStep } from './shutdown.js';
import { precheckSpec } from './workspace/container-spec.js';
import { WorkspaceManager } from './workspace/manager.js';
import { StateStore } from './workspace/store.js';

export interface Daemon {
  engine: Engine;
  manager: WorkspaceManager;
  app: App;
  /** Resolves true once the engine answered and the workspaces were adopted; false if that failed. */
  started: Promise<boolean>;
  shutdownSteps: ShutdownStep[];
}

/** The manager with its real collaborators; `serve` and the integration tests both build it here. */
export function createManager(config: Config, engine: Engine, logger: Logger): WorkspaceManager {
  const engineHostRoot = engineHostRootFor(config, 'host');
  const inspectionOwner = createHash('sha256').update(config.stateDir).digest('hex').slice(0, 16);
  const facts = new ImageFactsCache((e, imageId) => detectImageFacts(e, imageId, inspectionOwner));
  const nodeFacts = () => readNodeFacts(engine, config, engineHostRoot);
  return new WorkspaceManager({
    engine,
    store: new StateStore(config.stateDir),
    logger,
    inspectionOwner,
    imageFacts: (imageId) => facts.get(engine, imageId),
    nodeFacts,
    resolveMountSources: (sources) => resolveMountSources(config.hostRoot, sources),
    precheck: async (spec) => {
      const mountSources = await resolveMountSources(config.hostRoot, (spec.mounts ?? []).map((m) => m.source));
      precheckSpec(spec, await nodeFacts(), mountSources);
    },
  });
}

/**
 * The envbox-style workspace declared by config. Unlike a PUT, a changed declaration is applied at once: an envbox
 * user who changes CODER_INNER_IMAGE and restarts the pod expects the new image. It pulls only what is missing.
 */
async function declareBootWorkspace(manager: WorkspaceManager, config: Config, logger: Logger): Promise<void> {
  if (!config.bootWorkspace) return;
  const { id, spec } = config.bootWorkspace;
  const { created, status } = await manager.put(id, spec);
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

export async function startDaemon(config: Config, logger: Logger): Promise<Daemon> {
  if (config.engine === 'embedded') throw new Error('--engine embedded is not supported by this build yet; use --engine host');
  const engine = new DockerEngine({ dockerHost: config.dockerHost });
  const manager = createManager(config, engine, logger);
  const app = buildApp(logger);
  await app.listen({ host: config.listen.host, port: config.listen.port });

  const stopConnecting = new AbortController();
  const started = (async () => {
    const info = await connectEngine(engine, logger, stopConnecting.signal);
    logger.info({ engine: info.serverVersion, runtimes: info.runtimes, cvmRuntime: config.runtime }, 'connected to the engine');
    if (config.cvmEnabled && !info.runtimes.includes(config.runtime)) {
      logger.warn({ runtime: config.runtime }, 'the engine lacks the CVM runtime: CVM workspaces will be refused (RuntimeMissing)');
    }
    await manager.init();
    await declareBootWorkspace(manager, config, logger);
    return true;
  })().catch((err: unknown) => {
    if (!stopConnecting.signal.aborted) logger.error({ err }, 'the daemon could not start its workspaces');
    return false;
  });

  const shutdownSteps: ShutdownStep[] = [
    () => app.close(),
    async () => {
      stopConnecting.abort();
      if (await started) await manager.shutdown(config.shutdownPolicy);
    },
  ];
  return { engine, manager, app, started, shutdownSteps };
}
