/**
 * The errors that cross folders, and API.md's failure reason codes they carry. The spec, GPU planning, the container
 * builder, image pulls and the manager throw them; the lifecycle records a reason per workspace and the API maps
 * each error to a status (api/error-responses.ts). They live below every folder so that none imports another's
 * errors. The engine's own errors are in engine/engine-errors.ts.
 */

export const FAILURE_REASONS = [
  'ImagePullAuthFailed',
  'ImageNotFound',
  'RegistryUnreachable',
  'InsufficientStorage',
  'RuntimeMissing',
  'GpuUnsupported',
  'CvmDisabled',
  'InvalidSpec',
  'EngineUnavailable',
  'ContainerExited',
  'OOMKilled',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** The request cannot work as written (reason code InvalidSpec; HTTP 400 at PUT). `path` names the spec field. */
export class InvalidSpecError extends Error {
  readonly code = 'InvalidSpec';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'InvalidSpecError';
  }
}

export type RefusalCode = 'RuntimeMissing' | 'CvmDisabled';

/** The node refuses the request as asked (API reason codes RuntimeMissing, CvmDisabled). */
export class SpecRefusal extends Error {
  constructor(
    readonly code: RefusalCode,
    message: string,
  ) {
    super(message);
    this.name = 'SpecRefusal';
  }
}

/** The node cannot pass GPUs as asked (API reason code GpuUnsupported; HTTP 422 at PUT). */
export class GpuUnsupportedError extends Error {
  readonly code = 'GpuUnsupported';
  constructor(message: string) {
    super(message);
    this.name = 'GpuUnsupportedError';
  }
}

/** A workspace operation failed, with the reason its status reports. */
export class WorkspaceFailure extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'WorkspaceFailure';
  }
}

/** No workspace has the id (API code NotFound). */
export class WorkspaceNotFoundError extends Error {
  readonly code = 'NotFound';
  constructor(id: string) {
    super(`workspace ${id} does not exist`);
    this.name = 'WorkspaceNotFoundError';
  }
}

/** An operation that cannot apply to the workspace as it is (it is being deleted). */
export class WorkspaceConflictError extends Error {
  readonly code = 'Conflict';
  constructor(id: string, why: string) {
    super(`workspace ${id} ${why}`);
    this.name = 'WorkspaceConflictError';
  }
}
