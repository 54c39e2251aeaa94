/** Maps what went wrong at run time onto API.md's stable reason codes. Pure. */
import { EngineError, EngineUnavailableError, PullError } from '../engine/engine-errors.js';
import { GpuUnsupportedError, InvalidSpecError, WorkspaceFailure } from '../errors.js';
import { classifyPullError } from '../image/image-puller.js';

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
