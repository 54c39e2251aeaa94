/** /v1/workspaces: the control plane's workspace API (API.md). */
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { WorkspaceManager } from '../../lifecycle/manager.js';
import { parseWorkspaceSpec, WorkspaceSpecSchema } from '../../spec/workspace-spec.js';
import { ErrorSchema, PurgeQuery, WorkspaceIdParams, WorkspaceListSchema, WorkspaceSchema } from '../schemas.js';

const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema, 503: ErrorSchema };
const ACTIONS = ['start', 'stop', 'restart', 'rebuild'] as const;

export function workspaceRoutes(manager: WorkspaceManager): FastifyPluginCallbackTypebox {
  return (app, _options, done) => {
    app.get('/v1/workspaces', { schema: { summary: 'List workspaces', response: { 200: WorkspaceListSchema, 401: ErrorSchema } } }, () => ({
      workspaces: manager.list(),
    }));

    app.put(
      '/v1/workspaces/:id',
      {
        schema: {
          summary: 'Store the desired spec and converge: 201 when new, 200 when replaced (outdated until a rebuild)',
          params: WorkspaceIdParams,
          body: WorkspaceSpecSchema,
          response: { 200: WorkspaceSchema, 201: WorkspaceSchema, ...errors },
        },
      },
      async (request, reply) => {
        // The schema has run; this adds the checks JSON Schema cannot express (normalised paths).
        const spec = parseWorkspaceSpec(request.body);
        const { created, status } = await manager.put(request.params.id, spec);
        return reply.status(created ? 201 : 200).send(status);
      },
    );

    app.get(
      '/v1/workspaces/:id',
      { schema: { summary: 'One workspace', params: WorkspaceIdParams, response: { 200: WorkspaceSchema, ...errors } } },
      (request) => manager.get(request.params.id),
    );

    for (const action of ACTIONS) {
      app.post(
        `/v1/workspaces/:id/${action}`,
        { schema: { summary: `${action} the workspace (in the background)`, params: WorkspaceIdParams, response: { 202: WorkspaceSchema, ...errors } } },
        async (request, reply) => reply.status(202).send(await manager[action](request.params.id)),
      );
    }

    app.delete(
      '/v1/workspaces/:id',
      {
        schema: {
          summary: 'Delete the workspace (in the background); with purge=true its volumes too',
          params: WorkspaceIdParams,
          querystring: PurgeQuery,
          response: { 202: WorkspaceSchema, ...errors },
        },
      },
      async (request, reply) => reply.status(202).send(await manager.delete(request.params.id, request.query.purge ?? false)),
    );
    done();
  };
}
