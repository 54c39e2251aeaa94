/**
 * Bearer-token auth for /v1. The token lives in a file (a Kubernetes secret) and is re-read when the file changes,
 * so a rotated secret takes effect without a restart. Tokens are compared as SHA-256 digests in constant time,
 * which also hides the token's length.
 *
 * A token must be worth the name: at least MIN_TOKEN_BYTES bytes, one word, not a known placeholder. At start a
 * file that breaks these rules (or is missing or empty) stops the daemon; later, the same file revokes the token:
 * /v1 denies every caller until a good token is back. No message ever quotes the token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from 'pino';

export const MIN_TOKEN_BYTES = 32;

/** What example manifests and guides put where a token belongs; compared ignoring case. */
const PLACEHOLDERS: ReadonlySet<string> = new Set(
  [
    'REPLACE-WITH-A-LONG-RANDOM-TOKEN', 'REPLACE_WITH_A_LONG_RANDOM_TOKEN', 'replace-me', 'replaceme', 'changeme', 'change-me',
    'change_me', 'token', 'secret', 'password', 'example', 'example-token', 'your-token', 'your-token-here', 'my-token', 'test',
    'REPLACE-WITH-OUTPUT-OF-openssl-rand-hex-32', '<token>',
  ].map((p) => p.toLowerCase()),
);

const HOW_TO_MAKE_ONE = 'generate one with: openssl rand -hex 32';

/** Why `token` may not guard /v1, or null when it may. Never quotes the token. */
export function tokenProblem(token: string): string | null {
  if (token === '') return `the file is empty; ${HOW_TO_MAKE_ONE}`;
  if (/\s/.test(token)) return `the token holds whitespace (one token on one line); ${HOW_TO_MAKE_ONE}`;
  if (PLACEHOLDERS.has(token.toLowerCase())) return `the token is a known placeholder, not a secret; ${HOW_TO_MAKE_ONE}`;
  if (Buffer.byteLength(token, 'utf8') < MIN_TOKEN_BYTES) return `the token is shorter than ${MIN_TOKEN_BYTES} bytes; ${HOW_TO_MAKE_ONE}`;
  if (new Set(token).size === 1) return `the token repeats one character; ${HOW_TO_MAKE_ONE}`;
  return null;
}

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** Compared against when no token is in force, so that a refusal costs the same either way. */
const NO_TOKEN = digest('');

export class TokenUnreadableError extends Error {
  constructor(path: string, why: string) {
    super(`${path}: ${why}`);
    this.name = 'TokenUnreadableError';
  }
}

/** The file's token digest, or why there is none. */
function readToken(path: string): { digest: Buffer } | { problem: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { problem: code === 'ENOENT' ? `the file is missing; ${HOW_TO_MAKE_ONE}` : `the file is unreadable (${code ?? String(err)})` };
  }
  const token = text.trim();
  const problem = tokenProblem(token);
  return problem === null ? { digest: digest(token) } : { problem };
}

export class TokenFile {
  /** null: revoked (missing, empty or refused file): every caller is denied. */
  private current: Buffer | null;
  private problem: string | null = null;

  /** Throws TokenUnreadableError when the file is missing, unreadable, empty or holds a refused token. */
  constructor(
    private readonly path: string,
    private readonly log: Logger,
    pollMs = 1000,
  ) {
    const first = readToken(path);
    if ('problem' in first) throw new TokenUnreadableError(path, first.problem);
    this.current = first.digest;
    // Polling the path (not an inotify watch) follows the symlink swap Kubernetes does when it updates a secret,
    // and notices a deleted file coming back.
    watchFile(path, { interval: pollMs, persistent: false }, () => {
      this.reload();
    });
  }

  /** Re-reads the file. A missing, empty or refused token revokes the old one: revoking means emptying the file. */
  reload(): void {
    const next = readToken(this.path);
    if ('problem' in next) {
      this.current = null;
      this.problem = next.problem;
      this.log.error({ tokenFile: this.path, problem: next.problem }, 'no usable API token: /v1 denies every request until the token file holds one');
      return;
    }
    const wasRevoked = this.current === null;
    this.current = next.digest;
    this.problem = null;
    this.log.info({ tokenFile: this.path }, wasRevoked ? 'the API token file holds a usable token again' : 'reloaded the API token');
  }

  /** Why /v1 denies every caller now; null while a token is in force. */
  revokedBecause(): string | null {
    return this.problem;
  }

  /** True when the Authorization header carries the current token. */
  accepts(authorization: string | undefined): boolean {
    // Spaces and tabs only around the token (RFC 9110): \s would also take a no-break space or a line break.
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    const equal = timingSafeEqual(digest(match?.[1] ?? ''), this.current ?? NO_TOKEN);
    return equal && this.current !== null && match?.[1] !== undefined;
  }

  close(): void {
    unwatchFile(this.path);
  }
}
