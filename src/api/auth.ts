/**
 * Bearer-token auth for /v1. The token lives in a file (a Kubernetes secret) and is re-read when the file changes,
 * so a rotated secret takes effect without a restart. Tokens are compared as SHA-256 digests in constant time,
 * which also hides the token's length.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from 'pino';

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class TokenUnreadableError extends Error {
  constructor(path: string, why: string) {
    super(`${path}: ${why}`);
    this.name = 'TokenUnreadableError';
  }
}

function readToken(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TokenUnreadableError(path, err instanceof Error ? err.message : String(err));
  }
  const token = text.trim();
  if (token === '') throw new TokenUnreadableError(path, 'the file is empty');
  return digest(token);
}

export class TokenFile {
  private current: Buffer;

  /** Throws TokenUnreadableError when the file cannot be read or is empty. */
  constructor(
    private readonly path: string,
    private readonly log: Logger,
    pollMs = 1000,
  ) {
    this.current = readToken(path);
    // Polling the path (not an inotify watch) follows the symlink swap Kubernetes does when it updates a secret.
    watchFile(path, { interval: pollMs, persistent: false }, () => {
      this.reload();
    });
  }

  /** Re-reads the file; a broken rotation keeps the previous token rather than locking everyone out. */
  reload(): void {
    try {
      this.current = readToken(this.path);
      this.log.info({ tokenFile: this.path }, 'reloaded the API token');
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'the API token file is unreadable; keeping the previous token');
    }
  }

  /** True when the Authorization header carries the current token. */
  accepts(authorization: string | undefined): boolean {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match?.[1]) return false;
    return timingSafeEqual(digest(match[1]), this.current);
  }

  close(): void {
    unwatchFile(this.path);
  }
}
