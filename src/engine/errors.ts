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
