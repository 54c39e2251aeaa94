/**
 * Pure decisions of embedded engine mode (no I/O): dockerd's command line, the bridge it gets, how a child's
 * output line maps to a log level, and the restart backoff. src/engine/embedded.ts does the I/O.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { backoffMs } from '../backoff.js';

export interface DockerdPlanInput {
  dataRoot: string;
  runDir: string;
  /** The bridge interface the supervisor created for this engine. */
  bridge: string;
  /** The default-route interface's MTU; undefined leaves dockerd's default. */
  mtu: number | undefined;
  /** sysbox-runc's path when sysbox is installed. */
  sysboxRunc: string | undefined;
  /**
   * False when another dockerd shares this network namespace: dockerd's bridge driver deletes and recreates the
   * DOCKER iptables chains at start, which would wipe that engine's rules.
   */
  iptables: boolean;
}

/** Where the embedded engine keeps its run-time state; everything lives under --run-dir. */
export function embeddedPaths(runDir: string): { socket: string; pidfile: string; execRoot: string } {
  return { socket: path.join(runDir, 'docker.sock'), pidfile: path.join(runDir, 'dockerd.pid'), execRoot: path.join(runDir, 'exec') };
}

/** A short tag of the data root, so two embedded engines on one machine get distinct bridges and namespaces. */
function tagOf(dataRoot: string): string {
  return createHash('sha256').update(dataRoot).digest('hex').slice(0, 8);
}

/** Interface names are at most 15 bytes: "cvm" + 8 hex digits. */
export function bridgeNameFor(dataRoot: string): string {
  return `cvm${tagOf(dataRoot)}`;
}

/**
 * The bridge's address: a /20 (4094 workspaces) inside 10.224.0.0/11, chosen by the data root. It never meets
 * 172.17.0.0/16, the default of a dockerd inside a CVM (envbox's 172.19.0.1/30 fits one container only).
 */
export function bridgeCidrFor(dataRoot: string): string {
  const block = Number.parseInt(tagOf(dataRoot).slice(0, 4), 16) % 512;
  const base = (10 << 24) + (224 << 16) + block * 4096;
  const octets = [base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, (base & 255) + 1];
  return `${octets.join('.')}/20`;
}

export function dockerdArgs(input: DockerdPlanInput): string[] {
  const paths = embeddedPaths(input.runDir);
  const tag = tagOf(input.dataRoot);
  return [
    '--data-root', input.dataRoot,
    '--exec-root', paths.execRoot,
    '--pidfile', paths.pidfile,
    '--host', `unix://${paths.socket}`,
    '--bridge', input.bridge,
    // Own containerd namespaces: a system containerd, if dockerd finds one, must not show our containers.
    '--containerd-namespace', `cvm-embedded-${tag}`,
    '--containerd-plugins-namespace', `cvm-embedded-${tag}-plugins`,
    ...(input.mtu === undefined ? [] : ['--mtu', String(input.mtu)]),
    ...(input.sysboxRunc === undefined ? [] : ['--add-runtime', `sysbox-runc=${input.sysboxRunc}`]),
    ...(input.iptables ? [] : ['--iptables=false', '--ip-masq=false']),
  ];
}

export type ChildLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const LEVELS: Record<string, ChildLevel> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  fatal: 'fatal',
  panic: 'fatal',
};

/** A logrus line (`time=... level=warning msg="..."`) as a level and message; other lines log at info. */
export function relevel(line: string): { level: ChildLevel; msg: string } {
  const level = /\blevel=(\w+)/.exec(line)?.[1]?.toLowerCase();
  const quoted = /\bmsg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1];
  const bare = /\bmsg=(\S+)/.exec(line)?.[1];
  const msg = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? line);
  return { level: (level !== undefined ? LEVELS[level] : undefined) ?? 'info', msg };
}

/** Delay before the n-th restart in a row (1-based): 1 s doubling to 30 s. */
export function restartDelayMs(attempt: number): number {
  return backoffMs(attempt, { baseMs: 1000, maxMs: 30_000 });
}

/** A child that stayed up this long counts as healthy again: its next crash restarts after the shortest delay. */
export const HEALTHY_AFTER_MS = 60_000;
