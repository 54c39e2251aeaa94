/**
 * A limit on failed bearer-token attempts per client address, so that the token cannot be guessed at speed: after
 * `maxFailures` failures within `windowMs` of the first, the address gets 429 (with Retry-After) until the window
 * ends, whatever token it sends, so the answer while blocked says nothing about the token. IPv6 clients count per
 * /64, the block one host usually holds. The table is bounded: past `maxTracked` addresses the oldest go first.
 */
import { isIPv6 } from 'node:net';

export interface AuthLimitOptions {
  maxFailures: number;
  windowMs: number;
  maxTracked: number;
}

export const DEFAULT_AUTH_LIMIT: AuthLimitOptions = { maxFailures: 10, windowMs: 60_000, maxTracked: 10_000 };

interface Window {
  failures: number;
  endsAt: number;
}

/** The IPv6 address's first four groups (its /64), expanded; an IPv4-mapped address as its IPv4 form. */
export function clientKey(address: string): string {
  const plain = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (!isIPv6(plain)) return plain;
  const [head = '', tail] = plain.toLowerCase().split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = Array.from({ length: 8 - headGroups.length - tailGroups.length }, () => '0');
  const groups = tail === undefined ? headGroups : [...headGroups, ...zeros, ...tailGroups];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export class AuthLimit {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly options: AuthLimitOptions = DEFAULT_AUTH_LIMIT,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `address` may try again; null when it may now. */
  retryAfterSeconds(address: string): number | null {
    const window = this.current(clientKey(address));
    if (window === undefined || window.failures < this.options.maxFailures) return null;
    return Math.max(1, Math.ceil((window.endsAt - this.now()) / 1000));
  }

  recordFailure(address: string): void {
    const key = clientKey(address);
    const window = this.current(key);
    if (window !== undefined) {
      window.failures += 1;
      return;
    }
    this.makeRoom();
    this.windows.set(key, { failures: 1, endsAt: this.now() + this.options.windowMs });
  }

  /** How many addresses are tracked (for tests of the bound). */
  get tracked(): number {
    return this.windows.size;
  }

  private current(key: string): Window | undefined {
    const window = this.windows.get(key);
    if (window === undefined || window.endsAt > this.now()) return window;
    this.windows.delete(key);
    return undefined;
  }

  private makeRoom(): void {
    if (this.windows.size < this.options.maxTracked) return;
    const now = this.now();
    for (const [key, window] of this.windows) {
      if (window.endsAt <= now) this.windows.delete(key);
    }
    // Insertion order is age order: the oldest windows go first.
    for (const key of this.windows.keys()) {
      if (this.windows.size < this.options.maxTracked) break;
      this.windows.delete(key);
    }
  }
}
