/**
 * `cvm-supervisor serve`: wires the engine, the state store, the workspace manager and the HTTP server together,
 * declares the boot workspace from config, and returns the shutdown steps.
 */
import type { Logger } from 'pino';
import { type App, buildApp } from './api/app.js';
import { type Config, engineHostRootFor } from './config/schema.js';
import { DockerEngine } from './engine/docker.js';
import type { Engine } from './engine/types.js';
import { readNodeFacts, resolveMountSources } from './host/node-facts.js';
import { ImageFactsCache } from './image/detect.js';
import type { ShutdownStep } from './shutdown.js';
import { precheckSpec } from './workspace/container-spec.js';
import { WorkspaceManager } from './workspace/manager.js';
import { StateStore } from './workspace/store.js';

export interface Daemon {
  engine: Engine;
  manager: WorkspaceManager;
  app: App;
  shutdownSteps: ShutdownStep[];
}

export async function startDaemon(config: Config, logger: Logger): Promise<Daemon> {
  if (config.engine === 'embedded') throw new Error('--engine embedded is not supported by this build yet; use --engine host');
  const engine = new DockerEngine({ dockerHost: config.dockerHost });
  const engineHostRoot = engineHostRootFor(config, 'host');
  await engine.ping();
  const info = await engine.info();
  logger.info({ engine: info.serverVersion, runtimes: info.runtimes, cvmRuntime: config.runtime }, 'connected to the engine');
  if (config.cvmEnabled && !info.runtimes.includes(config.runtime)) {
    logger.warn({ runtime: config.runtime }, 'the engine lacks the CVM runtime: CVM workspaces will be refused (RuntimeMissing)');
  }

  const facts = new ImageFactsCache();
  const nodeFacts = () => readNodeFacts(engine, config, engineHostRoot);
  const manager = new WorkspaceManager({
    engine,
    store: new StateStore(config.stateDir),
    logger,
    imageFacts: (imageId) => facts.get(engine, imageId),
    nodeFacts,
    resolveMountSources: (sources) => resolveMountSources(config.hostRoot, sources),
    precheck: async (spec) => {
      const mountSources = await resolveMountSources(config.hostRoot, (spec.mounts ?? []).map((m) => m.source));
      precheckSpec(spec, await nodeFacts(), mountSources);
    },
  });
  await manager.init();

  if (config.bootWorkspace) {
    const { id, spec } = config.bootWorkspace;
    const { created } = await manager.put(id, spec);
    logger.info({ workspace: id, created }, 'declared the boot workspace');
  }

  const app = buildApp(logger);
  await app.listen({ host: config.listen.host, port: config.listen.port });

  const shutdownSteps: ShutdownStep[] = [
    () => app.close(),
    () => manager.shutdown(config.shutdownPolicy),
  ];
  return { engine, manager, app, shutdownSteps };
}
