/**
 * One error shape for every 4xx and 5xx: `{ error: { code, message, details } }` with a stable code. Domain errors
 * map onto statuses here, in one place; a response never carries a stack trace.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { EngineUnavailableError } from '../engine/engine-errors.js';
import { GpuUnsupportedError, InvalidSpecError, SpecRefusal, WorkspaceConflictError, WorkspaceNotFoundError } from '../errors.js';
import { describeSchemaErrors, type SchemaErrorLike } from '../spec/workspace-spec.js';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

function body(code: string, message: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: { code, message, details } };
}

/** Maps any thrown value onto a status and the error body. */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof ApiError) return { status: err.statusCode, body: body(err.code, err.message, err.details) };
  if (err instanceof InvalidSpecError) return { status: 400, body: body('InvalidSpec', err.message, { path: err.path }) };
  if (err instanceof SpecRefusal) return { status: 422, body: body(err.code, err.message) };
  if (err instanceof GpuUnsupportedError) return { status: 422, body: body(err.code, err.message) };
  if (err instanceof WorkspaceNotFoundError) return { status: 404, body: body('NotFound', err.message) };
  if (err instanceof WorkspaceConflictError) return { status: 409, body: body('Conflict', err.message) };
  if (err instanceof EngineUnavailableError) return { status: 503, body: body('EngineUnavailable', err.message) };
  const fastifyError = err as Partial<FastifyError> & { validation?: SchemaErrorLike[]; validationContext?: string };
  if (fastifyError.validation) {
    const part = fastifyError.validationContext ?? 'request';
    const { path, message } = describeSchemaErrors(fastifyError.validation, part);
    const code = part === 'body' ? 'InvalidSpec' : 'InvalidRequest';
    return { status: 400, body: body(code, `${path}: ${message}`, { path, in: part }) };
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: body('PayloadTooLarge', 'the request body is larger than the limit') };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: body('UnsupportedMediaType', 'send the body as application/json') };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: body('InvalidRequest', 'the body is not valid JSON') };
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return { status, body: body('InvalidRequest', fastifyError.message ?? 'bad request') };
  }
  return { status: 500, body: body('Internal', 'internal error; see the daemon log') };
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body: payload } = toErrorResponse(err);
  if (status === 500) request.log.error({ err }, 'request failed');
  else if (status > 500) request.log.warn({ code: payload.error.code, detail: payload.error.message }, 'request refused: unavailable');
  void reply.status(status).send(payload);
}
