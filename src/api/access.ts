/**
 * Who may do what on the port: /v1 needs the bearer token (unless there is no token file, and so the daemon
 * listens on loopback only); the reasons behind an unready /readyz (engine errors, preflight evidence) are shown
 * only to a caller that sends the token. Failed attempts, on /v1 and on /readyz alike, count against the caller's
 * address (auth-limit.ts), so neither route can be used to guess the token at speed.
 */
import type { AuthLimit } from './auth-limit.js';
import type { TokenFile } from './auth.js';
import { ApiError } from './error-responses.js';

export interface Caller {
  ip: string;
  headers: { authorization?: string | undefined };
}

export class ApiAccess {
  constructor(
    /** null: no token file; /v1 is open and the daemon listens on loopback only (daemon/wiring.ts enforces that). */
    private readonly tokens: TokenFile | null,
    private readonly limit: AuthLimit,
  ) {}

  /** For /v1: nothing when the caller may pass; the error to answer with otherwise (429 carries Retry-After). */
  refusal(caller: Caller): ApiError | null {
    if (this.tokens === null) return null;
    // A blocked address is refused before its token is looked at, so the answer says nothing about the token.
    const retryAfter = this.limit.retryAfterSeconds(caller.ip);
    if (retryAfter !== null) {
      return new ApiError(429, 'TooManyRequests', `too many failed token attempts from this address; retry in ${retryAfter} s`, {
        retryAfterSeconds: retryAfter,
      });
    }
    if (this.tokens.accepts(caller.headers.authorization)) return null;
    this.limit.recordFailure(caller.ip);
    return new ApiError(401, 'Unauthorized', 'a valid bearer token is required');
  }

  /** Whether /readyz may show its reasons: the caller sent the token (or there is none). Never a 429: kubelet must get its status. */
  mayReadReasons(caller: Caller): boolean {
    if (this.tokens === null) return true;
    if (caller.headers.authorization === undefined) return false;
    return this.refusal(caller) === null;
  }

  /** Why /v1 denies every caller (a revoked or refused token file); null while a token is in force. */
  revokedBecause(): string | null {
    return this.tokens?.revokedBecause() ?? null;
  }
}
