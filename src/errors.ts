/**
 * API.md's failure reason codes and the errors that carry one. The spec, GPU planning, the container builder and
 * image pulls throw them; the lifecycle records them as a workspace's reason and the API maps them to statuses.
 * They live below every folder so that none has to import another's errors.
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
