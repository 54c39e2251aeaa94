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
import { ApiAccess, type Caller } from './access.js';
import { AuthLimit } from './auth-limit.js';
import type { TokenFile } from './auth.js';
import { ApiError, errorHandler } from './error-responses.js';
import { ErrorSchema } from './schemas.js';
import type { Readiness } from './readiness.js';
import { eventRoutes } from './routes/events.js';
import { nodeRoutes } from './routes/node.js';
import { probeRoutes } from './routes/probes.js';
import { workspaceRoutes } from './routes/workspaces.js';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/**
 * How long a client may hold a connection without doing its part, so that the port cannot be held open by
 * connections that never finish a request (slowloris) or idle forever. Node checks the header and request
 * deadlines every `checkIntervalMs` (its default, 30 s, would let them run that much over).
 */
export interface HttpTimeouts {
  /** From the connection to the end of the request's headers. */
  headersMs: number;
  /** From the connection to the end of the request's body (1 MiB at most). */
  requestMs: number;
  /** A connection with no traffic either way; a build-log follower that passed auth is exempt. */
  idleMs: number;
  /** Between two requests on a kept-alive connection. */
  keepAliveMs: number;
  checkIntervalMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { headersMs: 10_000, requestMs: 30_000, idleMs: 60_000, keepAliveMs: 10_000, checkIntervalMs: 1_000 };

export interface AppDeps {
  logger: Logger;
  engine: Engine;
  manager: WorkspaceManager;
  metrics: Metrics;
  readiness: Readiness;
  /** `probes-only`: no /v1 routes at all, and /readyz never shows its reasons. */
  api: 'full' | 'probes-only';
  /** null: no token file, /v1 is open and the daemon listens on loopback only (daemon/wiring.ts enforces that). */
  tokens: TokenFile | null;
  /** Failed token attempts per address; a fresh DEFAULT_AUTH_LIMIT one by default. */
  authLimit?: AuthLimit;
  timeouts?: HttpTimeouts;
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
function v1Routes(deps: AppDeps, access: ApiAccess): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.addHook('onRequest', (request, reply, done) => {
      const refusal = access.refusal(request);
      if (refusal !== null) {
        const retryAfter = refusal.details['retryAfterSeconds'];
        if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
        done(refusal);
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
  const timeouts = deps.timeouts ?? DEFAULT_HTTP_TIMEOUTS;
  const access = new ApiAccess(deps.tokens, deps.authLimit ?? new AuthLimit());
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT,
    connectionTimeout: timeouts.idleMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    requestTimeout: timeouts.requestMs,
    http: { headersTimeout: timeouts.headersMs, requestTimeout: timeouts.requestMs, connectionsCheckingInterval: timeouts.checkIntervalMs },
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
      schema: url.startsWith('/v1') ? { ...schema, security: [{ bearer: [] }], response: { ...(schema.response as object | undefined), 429: ErrorSchema } } : schema,
      url,
    }),
  });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  const mayReadReasons = deps.api === 'full' ? (caller: Caller) => access.mayReadReasons(caller) : () => false;
  await app.register(probeRoutes({ readiness: deps.readiness, metrics: deps.metrics, mayReadReasons }));
  if (deps.api === 'full') await app.register(v1Routes(deps, access));
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
