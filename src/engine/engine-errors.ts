/** Errors the engine facade raises. Callers branch on these classes, never on dockerode's error shapes. */

export class EngineError extends Error {
  constructor(
    readonly operation: string,
    readonly statusCode: number | null,
    message: string,
  ) {
    super(`${operation}: ${message}`);
    this.name = 'EngineError';
  }
}

/** The engine could not be reached at all (socket missing, connection refused, timeout). */
export class EngineUnavailableError extends EngineError {
  constructor(operation: string, message: string) {
    super(operation, null, message);
    this.name = 'EngineUnavailableError';
  }
}

/** A pull whose stream reported an error, or whose request was refused. `statusCode` is the HTTP status when there was one. */
export class PullError extends EngineError {
  constructor(
    readonly ref: string,
    statusCode: number | null,
    message: string,
  ) {
    super('pull', statusCode, message);
    this.name = 'PullError';
  }
}

const CONNECTION_ERRORS = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EACCES', 'EPROTO']);

/**
 * A TLS link that cannot be made (Node's ERR_SSL_ and ERR_TLS_ codes, OpenSSL's certificate verdicts such as
 * SELF_SIGNED_CERT_IN_CHAIN or UNABLE_TO_VERIFY_LEAF_SIGNATURE): the engine is out of reach until the
 * certificates are fixed, like a refused connection.
 */
function isTlsFailure(code: string): boolean {
  return /^ERR_(SSL|TLS)_/.test(code) || /CERT|UNABLE_TO_(GET|VERIFY)/.test(code);
}

/** The shape of what dockerode and docker-modem throw. */
interface DockerodeFailure {
  statusCode?: number;
  code?: string;
  name?: string;
  json?: { message?: string } | null;
  message?: string;
}

export function statusOf(err: unknown): number | undefined {
  return (err as DockerodeFailure | undefined)?.statusCode;
}

/** Maps whatever dockerode threw onto EngineError / EngineUnavailableError. */
export function toEngineError(operation: string, err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const failure = (err ?? {}) as DockerodeFailure;
  if (failure.code !== undefined && (CONNECTION_ERRORS.has(failure.code) || isTlsFailure(failure.code))) {
    return new EngineUnavailableError(operation, `${failure.code}: ${failure.message ?? ''}`);
  }
  if (failure.name === 'AbortError' || failure.name === 'TimeoutError') {
    return new EngineUnavailableError(operation, 'request timed out or was aborted');
  }
  return new EngineError(operation, failure.statusCode ?? null, failure.json?.message ?? failure.message ?? String(err));
}
