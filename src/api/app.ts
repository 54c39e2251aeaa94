/**
 * The fastify app: plugins, routes and the error handler; no process lifecycle (daemon/run.ts listens and shuts down).
 * Request bodies are validated by TypeBox without coercion or silent removal of unknown fields, so `{"image":5}`
 * and unknown fields are 400s, as API.md asks. The same schemas feed serialization and /openapi.json.
 */
import swagger from '@fastify/swagger';
import { type FastifyPluginAsyncTypebox, TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { Logger } from 'pino';
import type { Engine } from '../engine/types.js';
import type { GpuNode } from '../gpu/plan.js';
import type { WorkspaceManager } from '../lifecycle/manager.js';
import type { Metrics } from '../metrics.js';
import type { PreflightReport } from '../preflight/report.js';
import type { TokenFile } from './auth.js';
import { ApiError, errorHandler } from './error-responses.js';
import type { Readiness } from './readiness.js';
import { eventRoutes } from './routes/events.js';
import { nodeRoutes } from './routes/node.js';
import { probeRoutes } from './routes/probes.js';
import { workspaceRoutes } from './routes/workspaces.js';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface AppDeps {
  logger: Logger;
  engine: Engine;
  manager: WorkspaceManager;
  metrics: Metrics;
  readiness: Readiness;
  /** null: no token file, /v1 is open and the daemon listens on loopback only (daemon/wiring.ts enforces that). */
  tokens: TokenFile | null;
  /** Whether the workspaces are loaded; /v1 answers 503 until then. */
  started: () => boolean;
  cvmRuntime: string;
  cvmEnabled: boolean;
  /** GET /v1/preflight: the node checks, run on each request. */
  preflight: () => Promise<PreflightReport>;
  /** GPU discovery for /v1/node and /v1/preflight. */
  gpus?: () => Promise<GpuNode>;
  version: string;
  bodyLimit?: number;
}

/** Everything under /v1: bearer auth first, then the routes. */
function v1Routes(deps: AppDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.addHook('onRequest', (request, _reply, done) => {
      if (deps.tokens && !deps.tokens.accepts(request.headers.authorization)) {
        done(new ApiError(401, 'Unauthorized', 'a valid bearer token is required'));
      } else if (!deps.started()) {
        done(new ApiError(503, 'EngineUnavailable', 'the daemon is still connecting to the engine'));
      } else {
        done();
      }
    });
    await app.register(workspaceRoutes(deps.manager));
    await app.register(eventRoutes(deps.manager));
    await app.register(nodeRoutes(deps));
  };
}

/** What kubelet and Prometheus call all the time (exact paths, no query). */
const PROBE_URLS = new Set(['/healthz', '/readyz', '/metrics']);

export async function buildApp(deps: AppDeps) {
  const probeLoggers = new Map<string, FastifyBaseLogger>();
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // A child logger per request is a measurable share of a probe's cost (pino prepares the redaction for each
    // child). Probes share one child per log level instead; their rare lines (warn and above) carry no reqId.
    childLoggerFactory(logger, bindings, options, rawRequest) {
      if (!PROBE_URLS.has(rawRequest.url ?? '')) return logger.child(bindings, options);
      const level = options.level ?? logger.level;
      let child = probeLoggers.get(level);
      if (child === undefined) {
        child = logger.child({}, options);
        probeLoggers.set(level, child);
      }
      return child;
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'NotFound', message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}`, details: {} } });
  });
  // A route without a body accepts an empty body whatever the Content-Type says (API.md).
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new ApiError(400, 'InvalidRequest', 'the body is not valid JSON'), undefined);
    }
  });
  // Any other type: an empty body is no body (a POST action sent by a generic client); anything else is a 415.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    if (body.length === 0) done(null, undefined);
    else done(new ApiError(415, 'UnsupportedMediaType', 'send the body as application/json'), undefined);
  });
  app.addHook('onResponse', (request, reply, done) => {
    deps.metrics.httpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'cvm-supervisor', version: deps.version, description: 'Runs Coder workspaces as container-based VMs (sysbox).' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: ({ schema, url }) => ({
      schema: url.startsWith('/v1') ? { ...schema, security: [{ bearer: [] }] } : schema,
      url,
    }),
  });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  await app.register(probeRoutes(deps));
  await app.register(v1Routes(deps));
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
