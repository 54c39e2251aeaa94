/**
 * The fastify app: plugins and routes, no process lifecycle (that is server.ts). For now only the liveness probe;
 * the control-plane API, readiness and metrics come with the HTTP issue.
 */
import Fastify from 'fastify';
import type { Logger } from 'pino';

export function buildApp(logger: Logger) {
  const app = Fastify({ loggerInstance: logger });
  // Probes come every few seconds; their request logs would drown everything else.
  app.get('/healthz', { logLevel: 'warn' }, () => ({ status: 'ok' }));
  return app;
}

export type App = ReturnType<typeof buildApp>;
