/** /v1/node and /v1/preflight: what the node is and whether it qualifies for CVMs. */
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Engine } from '../../engine/types.js';
import type { PreflightReport } from '../../preflight/report.js';
import { ErrorSchema, NodeSchema, PreflightSchema } from '../schemas.js';

export interface NodeDeps {
  engine: Engine;
  cvmRuntime: string;
  cvmEnabled: boolean;
  /** Runs the node checks (preflight/gather.ts); an unreachable engine is a finding of the report, not an error. */
  preflight: () => Promise<PreflightReport>;
}

export function nodeRoutes(deps: NodeDeps): FastifyPluginCallbackTypebox {
  return (app, _options, done) => {
    app.get('/v1/node', { schema: { summary: 'Engine, runtimes, kernel, cgroups, GPUs', response: { 200: NodeSchema, 401: ErrorSchema, 503: ErrorSchema } } }, async () => {
      const info = await deps.engine.info();
      return {
        engineVersion: info.serverVersion,
        apiVersion: info.apiVersion,
        runtimes: info.runtimes,
        cvmRuntime: deps.cvmRuntime,
        cvmEnabled: deps.cvmEnabled,
        kernelVersion: info.kernelVersion,
        cgroupVersion: info.cgroupVersion,
        operatingSystem: info.operatingSystem,
        gpus: [],
      };
    });

    app.get('/v1/preflight', { schema: { summary: 'The preflight report (as `preflight --json`)', response: { 200: PreflightSchema, 401: ErrorSchema } } }, () =>
      deps.preflight(),
    );
    done();
  };
}
