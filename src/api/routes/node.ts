/** /v1/node and /v1/preflight: what the node is and whether it qualifies for CVMs. */
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { EngineSystem } from '../../engine/types.js';
import type { GpuNode } from '../../gpu/plan.js';
import type { PreflightReport } from '../../preflight/report.js';
import { ErrorSchema, NodeSchema, PreflightSchema } from '../schemas.js';

export interface NodeDeps {
  engine: EngineSystem;
  cvmRuntime: string;
  cvmEnabled: boolean;
  /** Runs the node checks (preflight/gather.ts); an unreachable engine is a finding of the report, not an error. */
  preflight: () => Promise<PreflightReport>;
  /** GPU discovery, read fresh per request; absent: no GPUs reported. */
  gpus?: () => Promise<GpuNode>;
}

export function nodeRoutes(deps: NodeDeps): FastifyPluginCallbackTypebox {
  return (app, _options, done) => {
    app.get('/v1/node', { schema: { summary: 'Engine, runtimes, kernel, cgroups, GPUs', response: { 200: NodeSchema, 401: ErrorSchema, 503: ErrorSchema } } }, async () => {
      const [info, gpus] = await Promise.all([deps.engine.info(), deps.gpus?.()]);
      return {
        engineVersion: info.serverVersion,
        apiVersion: info.apiVersion,
        runtimes: info.runtimes,
        cvmRuntime: deps.cvmRuntime,
        cvmEnabled: deps.cvmEnabled,
        kernelVersion: info.kernelVersion,
        cgroupVersion: info.cgroupVersion,
        operatingSystem: info.operatingSystem,
        gpus: (gpus?.facts.gpus ?? []).map(({ index, uuid, model }) => ({ index, uuid, model })),
        gpusEnabled: gpus?.enabled ?? false,
        gpuDriverVersion: gpus?.facts.driverVersion ?? null,
        gpuUnsupported: gpus?.facts.unsupported ?? null,
      };
    });

    app.get('/v1/preflight', { schema: { summary: 'The preflight report (as `preflight --json`)', response: { 200: PreflightSchema, 401: ErrorSchema } } }, () =>
      deps.preflight(),
    );
    done();
  };
}
