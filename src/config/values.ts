/**
 * Parsers from the text of a flag or variable to a typed value. Each throws BadValue whose message completes
 * `FIELD: "VALUE" <message>`, so that it says what is allowed; callers add the field and the value.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { posix } from 'node:path';
import { isValidWorkspaceId } from '../spec/workspace-spec.js';
import type { ListenAddress } from './schema.js';

export class BadValue extends Error {
  constructor(readonly predicate: string) {
    super(predicate);
    this.name = 'BadValue';
  }
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** How a value is shown in an error message: quoted on one line, cut when long. */
export function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
  // JSON.stringify gives undefined for undefined and functions, whatever its declared type says.
  const text = (JSON.stringify(value) as string | undefined) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Strict: only `true` and `false`, so that a typo never flips a switch. */
export function parseBoolean(raw: string): boolean {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new BadValue('is not true or false');
}

/** DOCKER_TLS_VERIFY as the Docker tools set it (`1`), or a boolean. */
export function parseTlsVerify(raw: string): boolean {
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new BadValue('is not true or false (1 and 0, as the Docker tools write them, also work)');
}

/** localhost, 127.0.0.0/8 or ::1: traffic to it never leaves the machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function choiceParser<T extends string>(choices: readonly T[]): (raw: string) => T {
  return (raw) => {
    const found = choices.find((c) => c === raw);
    if (found === undefined) throw new BadValue(`is not one of ${choices.join(', ')}`);
    return found;
  };
}

/** HOST:PORT; an IPv6 host goes in brackets (`[::1]:7070`) and is returned without them. */
export function parseListen(raw: string): ListenAddress {
  const bracketed = /^\[([^\]]*)\]:(\d{1,5})$/.exec(raw);
  const plain = /^([^:[\]]+):(\d{1,5})$/.exec(raw);
  const [, host, portText] = bracketed ?? plain ?? [];
  if (host === undefined || portText === undefined) {
    throw new BadValue('is not HOST:PORT (an IPv6 host goes in brackets: [::1]:7070)');
  }
  const hostOk = bracketed ? isIPv6(host) : isIPv4(host) || HOST_NAME.test(host);
  if (!hostOk) throw new BadValue(`has a host that is not ${bracketed ? 'an IPv6 address' : 'an IPv4 address or a host name'}`);
  const port = Number(portText);
  if (port > 65535) throw new BadValue('has a port outside 0-65535');
  return { host, port };
}

/** An absolute path, normalised (`/a/./b/` → `/a/b`). */
export function parseAbsolutePath(raw: string): string {
  if (!raw.startsWith('/')) throw new BadValue('is not an absolute path');
  if (raw.includes('\0')) throw new BadValue('contains a NUL character');
  const normal = posix.normalize(raw);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

/** Comma-separated items with surrounding blanks trimmed; empty items (`a,,b`, a trailing comma) are skipped. */
export function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** At least one path: an empty list on the command line is more likely a templating slip than a wish. */
export function parsePathList(raw: string): string[] {
  const paths = splitList(raw).map(parseAbsolutePath);
  if (paths.length === 0) throw new BadValue('is not a comma-separated list of absolute paths');
  return paths;
}

/** A decimal number of seconds, 0 to one hour. */
export function parseSeconds(raw: string): number {
  const seconds = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!(seconds <= 3600)) throw new BadValue('is not a number of seconds from 0 to 3600');
  return seconds;
}

/** A whole percentage, 0 to 100. */
export function parsePercent(raw: string): number {
  const percent = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
  if (!(percent <= 100)) throw new BadValue('is not a whole percentage from 0 to 100');
  return percent;
}

/** A runtime or network name as the engine knows it. */
export function parseEngineName(raw: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(raw)) {
    throw new BadValue('is not a name of letters, digits, "_", "." and "-" (starting with a letter or digit)');
  }
  return raw;
}

const ENGINE_URL_HINT = 'is not an engine URL (unix:///PATH, tcp://HOST:PORT, http://HOST:PORT or https://HOST:PORT)';

/** Network interface names as iptables takes them (at most 15 characters; a trailing `+` matches a prefix). */
export function parseInterfaceList(raw: string): string[] {
  const names = splitList(raw);
  if (names.length === 0) throw new BadValue('is not a comma-separated list of interface names');
  for (const name of names) {
    if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}\+?$/.test(name) || name.length > 15) {
      throw new BadValue(`has ${shown(name)}, which is not an interface name (1-15 of letters, digits, "_", "." and "-", not first, and a trailing "+" for a prefix)`);
    }
  }
  return names;
}

/** The Docker engine endpoint, kept as written. */
export function parseEngineUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BadValue(ENGINE_URL_HINT);
  }
  const ok =
    url.protocol === 'unix:'
      ? url.host === '' && url.pathname.length > 1
      : ['tcp:', 'http:', 'https:'].includes(url.protocol) && url.hostname !== '' && (url.pathname === '/' || url.pathname === '');
  if (!ok) throw new BadValue(ENGINE_URL_HINT);
  return raw;
}

const INSTANCE_NAME = /^[a-z0-9]([a-z0-9.-]{0,126}[a-z0-9])?$/;

/** A daemon's instance identity: it ends container and volume names, so it keeps to what the engine takes in both. */
export function parseInstanceName(raw: string): string {
  if (!INSTANCE_NAME.test(raw)) throw new BadValue('is not 1-128 of a-z, 0-9, "." and "-", starting and ending with a letter or digit');
  return raw;
}

export function parseWorkspaceId(raw: string): string {
  if (!isValidWorkspaceId(raw)) {
    throw new BadValue('is not a DNS label (1-63 of a-z, 0-9 and "-", starting and ending with a letter or digit)');
  }
  return raw;
}
