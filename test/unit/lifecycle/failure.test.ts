import { describe, expect, it } from 'vitest';
import { EngineError, EngineUnavailableError, PullError } from '../../../src/engine/engine-errors.js';
import { InvalidSpecError } from '../../../src/errors.js';
import { toWorkspaceFailure } from '../../../src/lifecycle/failure.js';

describe('toWorkspaceFailure', () => {
  it.each<[Error, string]>([
    [new PullError('r', 401, 'unauthorized'), 'ImagePullAuthFailed'],
    [new PullError('r', null, 'Head "https://r/v2/x/manifests/1": unauthorized: authentication required'), 'ImagePullAuthFailed'],
    [new PullError('r', 404, 'manifest unknown'), 'ImageNotFound'],
    [new PullError('r', null, 'pull access denied for x, repository does not exist'), 'ImagePullAuthFailed'],
    [new PullError('r', null, 'write /var/lib/docker/tmp: no space left on device'), 'InsufficientStorage'],
    [new PullError('r', null, 'dial tcp 127.0.0.1:5999: connect: connection refused'), 'RegistryUnreachable'],
    [new EngineUnavailableError('ping', 'ECONNREFUSED'), 'EngineUnavailable'],
    [new EngineError('container create', 400, 'Unknown runtime specified sysbox-runc'), 'RuntimeMissing'],
    [new InvalidSpecError('image', 'bad'), 'InvalidSpec'],
  ])('%s → %s', (err, reason) => {
    expect(toWorkspaceFailure(err).reason).toBe(reason);
  });
});
