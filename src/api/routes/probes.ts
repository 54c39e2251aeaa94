/** Unauthenticated endpoints for Kubernetes and Prometheus: /healthz, /readyz, /metrics. */
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Metrics } from '../../metrics.js';
import type { Caller } from '../access.js';
import type { Readiness } from '../readiness.js';
import { HealthSchema, ReadySchema, UnreadySchema } from '../schemas.js';

export interface ProbeDeps {
  readiness: Readiness;
  metrics: Metrics;
  /** Whether the caller may see why the daemon is unready (engine errors, host evidence): only with the token. */
  mayReadReasons: (caller: Caller) => boolean;
}

export function probeRoutes(deps: ProbeDeps): FastifyPluginCallbackTypebox {
  return (app, _options, done) => {
    // Probes and scrapes come every few seconds; their request logs would drown everything else.
    const quiet = { logLevel: 'warn' } as const;

    app.get('/healthz', { ...quiet, schema: { summary: 'The process is alive (never touches the engine)', response: { 200: HealthSchema } } }, () => ({
      status: 'ok' as const,
    }));

    app.get(
      '/readyz',
      { ...quiet, schema: { summary: 'Ready to serve workspaces', description: 'An unready answer lists its reasons only to a caller that sends the bearer token.', response: { 200: ReadySchema, 503: UnreadySchema } } },
      async (request, reply) => {
        const reasons = await deps.readiness.reasons();
        if (reasons.length === 0) return { status: 'ready' as const };
        return reply.status(503).send({ status: 'unready' as const, ...(deps.mayReadReasons(request) && { reasons }) });
      },
    );

    app.get('/metrics', { ...quiet, schema: { summary: 'Prometheus metrics (text format)', produces: ['text/plain'] } }, async (_request, reply) => {
      const body = await deps.metrics.render();
      return reply.type(deps.metrics.registry.contentType).send(body);
    });
    done();
  };
}
