/** /v1/node and /v1/preflight: what the node is and whether it qualifies for CVMs. */
import { release } from 'node:os';
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Engine, EngineInfo } from '../../engine/types.js';
import type { GpuNode } from '../../gpu/plan.js';
import { preflightReport } from '../../preflight/report.js';
import { ErrorSchema, NodeSchema, PreflightSchema } from '../schemas.js';

export interface NodeDeps {
  engine: Engine;
  cvmRuntime: string;
  cvmEnabled: boolean;
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

    app.get('/v1/preflight', { schema: { summary: 'The preflight report (as `preflight --json`)', response: { 200: PreflightSchema, 401: ErrorSchema } } }, async () => {
      // An unreachable engine is a finding of the report, not an error of the request.
      const info: EngineInfo | null = await deps.engine.info().catch(() => null);
      const gpus = await deps.gpus?.();
      return preflightReport({
        ...(gpus && { gpus }),
        kernelRelease: release(),
        runtimes: info?.runtimes ?? null,
        cvmRuntime: deps.cvmRuntime,
        cvmEnabled: deps.cvmEnabled,
        cgroupVersion: info?.cgroupVersion ?? null,
      });
    });
    done();
  };
}
