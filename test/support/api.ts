/**
 * The HTTP app wired as daemon/wiring.ts wires it (metrics fed by the manager, engine errors counted, createManager,
 * readiness), over an engine the test chooses, with the manager's start left to the test. Tests that need the
 * whole process wiring (listen, token file) use startDaemon instead; these need the manager and readiness handles
 * and control over when /v1 counts as started.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { expect } from 'vitest';
import { type App, buildApp, type HttpTimeouts } from '../../src/api/app.js';
import type { AuthLimit } from '../../src/api/auth-limit.js';
import type { TokenFile } from '../../src/api/auth.js';
import { Readiness } from '../../src/api/readiness.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { daemonPreflight, readGpuNode } from '../../src/daemon/host-readers.js';
import { createManager } from '../../src/daemon/wiring.js';
import { countingEngineErrors } from '../../src/engine/error-counting.js';
import type { Engine } from '../../src/engine/types.js';
import type { WorkspaceManager } from '../../src/lifecycle/manager.js';
import { Metrics } from '../../src/metrics.js';

/** A fixed version keeps the OpenAPI snapshot stable across releases. */
export const TEST_VERSION = '0.0.0-test';

export interface ApiUnderTest {
  app: App;
  manager: WorkspaceManager;
  readiness: Readiness;
  metrics: Metrics;
  config: Config;
  /** Closes the app, shuts the manager down leaving containers as they are (if it was started), removes the state dir. */
  close: () => Promise<void>;
}

export interface ApiOptions {
  engine: Engine;
  /** Daemon flags; --state-dir (a fresh temp dir) is added. */
  flags?: readonly string[];
  /** Load and adopt the workspaces (manager.init) before answering /v1, as the daemon does once the engine answers. */
  init?: boolean;
  /** Overrides whether /v1 counts as started; by default it is started exactly when init ran. */
  started?: boolean;
  tokens?: TokenFile | null;
  api?: 'full' | 'probes-only';
  authLimit?: AuthLimit;
  timeouts?: HttpTimeouts;
  /** The app's logger; silent by default. */
  logger?: Logger;
}

export async function buildApiUnderTest(options: ApiOptions): Promise<ApiUnderTest> {
  const stateDir = await mkdtemp(path.join(tmpdir(), `cvm-api-${randomBytes(3).toString('hex')}-`));
  const config = loadConfig(['--state-dir', stateDir, ...(options.flags ?? [])], {});
  const logger = options.logger ?? pino({ level: 'silent' });
  const phases = () => manager.phases();
  const gpus = () => readGpuNode(config);
  const metrics = new Metrics(TEST_VERSION, phases, gpus);
  const engine = countingEngineErrors(options.engine, (op) => {
    metrics.engineError(op);
  });
  const manager = createManager(config, engine, logger, metrics);
  if (options.init) await manager.init();
  const started = options.started ?? options.init ?? false;
  const readiness = new Readiness(engine, { cvmEnabled: config.cvmEnabled, cvmRuntime: config.runtime, started: () => started });
  const app = await buildApp({
    logger,
    engine,
    manager,
    metrics,
    readiness,
    api: options.api ?? 'full',
    tokens: options.tokens ?? null,
    ...(options.authLimit && { authLimit: options.authLimit }),
    ...(options.timeouts && { timeouts: options.timeouts }),
    started: () => started,
    cvmRuntime: config.runtime,
    cvmEnabled: config.cvmEnabled,
    preflight: daemonPreflight(config, engine),
    gpus,
    version: TEST_VERSION,
  });
  return {
    app,
    manager,
    readiness,
    metrics,
    config,
    close: async () => {
      await app.close();
      if (options.init) await manager.shutdown('keep');
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

interface ResponseLike {
  statusCode: number;
  body: string;
}

/**
 * Asserts the one error shape of API.md, `{error:{code,message,details}}`, the status and code, and that no stack
 * trace leaks. Returns the parsed error for further checks.
 */
export function expectApiError(response: ResponseLike, status: number, code: string): { code: string; message: string; details: Record<string, unknown> } {
  expect(response.statusCode, response.body).toBe(status);
  // A stack frame as V8 prints it, also inside a JSON string.
  expect(response.body).not.toContain('    at ');
  const parsed = JSON.parse(response.body) as { error: { code: string; message: string; details: Record<string, unknown> } };
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(Object.keys(parsed.error).sort()).toEqual(['code', 'details', 'message']);
  expect(parsed.error.code).toBe(code);
  expect(typeof parsed.error.message).toBe('string');
  expect(parsed.error.message).not.toBe('');
  expect(typeof parsed.error.details).toBe('object');
  return parsed.error;
}
