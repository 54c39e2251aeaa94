/** Maps what went wrong at run time onto API.md's stable reason codes. Pure. */
import { EngineError, EngineUnavailableError, PullError } from '../engine/engine-errors.js';
import { type FailureReason, GpuUnsupportedError, InvalidSpecError, WorkspaceFailure } from '../errors.js';

export function classifyPullError(err: PullError): FailureReason {
  const text = err.message.toLowerCase();
  if (err.statusCode === 401 || err.statusCode === 403 || /unauthorized|authentication required|no basic auth credentials|denied|forbidden/.test(text)) {
    return 'ImagePullAuthFailed';
  }
  if (/no space left/.test(text)) return 'InsufficientStorage';
  if (err.statusCode === 404 || /manifest unknown|not found|does not exist|no such image/.test(text)) return 'ImageNotFound';
  return 'RegistryUnreachable';
}

export function toWorkspaceFailure(err: unknown): WorkspaceFailure {
  if (err instanceof WorkspaceFailure) return err;
  if (err instanceof InvalidSpecError) return new WorkspaceFailure('InvalidSpec', err.message);
  if (err instanceof GpuUnsupportedError) return new WorkspaceFailure('GpuUnsupported', err.message);
  if (err instanceof PullError) return new WorkspaceFailure(classifyPullError(err), err.message);
  if (err instanceof EngineUnavailableError) return new WorkspaceFailure('EngineUnavailable', err.message);
  if (err instanceof EngineError) {
    if (/no space left/i.test(err.message)) return new WorkspaceFailure('InsufficientStorage', err.message);
    if (/unknown runtime/i.test(err.message)) return new WorkspaceFailure('RuntimeMissing', err.message);
    return new WorkspaceFailure('ContainerExited', err.message);
  }
  return new WorkspaceFailure('ContainerExited', err instanceof Error ? err.message : String(err));
}
