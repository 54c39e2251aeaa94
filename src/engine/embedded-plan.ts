/**
 * Pure decisions of embedded engine mode (no I/O): where its files go, dockerd's and sysbox-mgr's command lines, the
 * bridge it gets, what the children may see of the daemon's environment, and the restart backoff.
 * src/engine/embedded*.ts do the I/O; embedded-logs.ts re-levels the children's output.
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
  /** sysbox-runc's path when sysbox runs. */
  sysboxRunc: string | undefined;
  /**
   * False when another dockerd shares this network namespace: dockerd's bridge driver deletes and recreates the
   * DOCKER iptables chains at start, which would wipe that engine's rules.
   */
  iptables: boolean;
}

/** sysbox's sockets: fixed paths in sysbox, hence one sysbox per mount namespace. */
export const SYSBOX_SOCKETS = { 'sysbox-mgr': '/run/sysbox/sysmgr.sock', 'sysbox-fs': '/run/sysbox/sysfs.sock' } as const;
export type SysboxPart = keyof typeof SYSBOX_SOCKETS;

/** Where the embedded engine keeps its run-time state; everything lives under --run-dir. */
export function embeddedPaths(runDir: string): { socket: string; pidfile: string; execRoot: string; sysboxPidfile: (part: SysboxPart) => string } {
  return {
    socket: path.join(runDir, 'docker.sock'),
    pidfile: path.join(runDir, 'dockerd.pid'),
    execRoot: path.join(runDir, 'exec'),
    // sysbox writes its own pid files under /run/sysbox; these name the children of *this* daemon.
    sysboxPidfile: (part) => path.join(runDir, `${part}.pid`),
  };
}

/** A short tag of the data root, so two embedded engines on one machine get distinct bridges and namespaces. */
function tagOf(dataRoot: string): string {
  return createHash('sha256').update(dataRoot).digest('hex').slice(0, 8);
}

/** Interface names are at most 15 bytes: "cvm" + 8 hex digits. */
export function bridgeNameFor(dataRoot: string): string {
  return `cvm${tagOf(dataRoot)}`;
}

/** The containerd namespace of the embedded engine's containers (their shims carry it on their command line). */
export function containerdNamespaceFor(dataRoot: string): string {
  return `cvm-embedded-${tagOf(dataRoot)}`;
}

/**
 * The bridge's MAC, fixed (locally administered, chosen by the data root). A bridge whose MAC the kernel picks takes
 * its ports' lowest, so it changes whenever a workspace's veth with a lower one comes or goes; the other workspaces
 * keep the old one in their ARP cache and get no answer from the gateway (this namespace, NAT) for up to a minute.
 */
export function bridgeMacFor(dataRoot: string): string {
  const bytes = createHash('sha256').update(`mac:${dataRoot}`).digest().subarray(0, 5);
  return ['06', ...[...bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':');
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
  const namespace = containerdNamespaceFor(input.dataRoot);
  return [
    '--data-root', input.dataRoot,
    '--exec-root', paths.execRoot,
    '--pidfile', paths.pidfile,
    '--host', `unix://${paths.socket}`,
    '--bridge', input.bridge,
    // Own containerd namespaces: a system containerd, if dockerd finds one, must not show our containers.
    '--containerd-namespace', namespace,
    '--containerd-plugins-namespace', `${namespace}-plugins`,
    ...(input.mtu === undefined ? [] : ['--mtu', String(input.mtu)]),
    ...(input.sysboxRunc === undefined ? [] : ['--add-runtime', `sysbox-runc=${input.sysboxRunc}`]),
    ...(input.iptables ? [] : ['--iptables=false', '--ip-masq=false']),
  ];
}

/** sysbox-mgr keeps its data (a running CVM's inner /var/lib/docker among it) under the daemon's state. */
export function sysboxMgrArgs(sysboxDataRoot: string): string[] {
  return ['--data-root', sysboxDataRoot];
}

/**
 * What dockerd and sysbox may see of the daemon's environment: PATH, and the proxy settings dockerd pulls through.
 * Nothing else: the daemon's environment carries CODER_AGENT_TOKEN, CODER_IMAGE_PULL_SECRET and the like, and
 * NOTIFY_SOCKET would let dockerd speak to systemd as if it were the service.
 */
const CHILD_VARIABLES = ['PATH', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'] as const;

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function childEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const passed: Record<string, string> = { PATH: DEFAULT_PATH };
  for (const name of CHILD_VARIABLES) {
    const value = env[name];
    if (value !== undefined && value !== '') passed[name] = value;
  }
  return passed;
}

/**
 * The ids of the containers whose containerd shim still runs in `namespace`, from the command lines
 * (`containerd-shim-runc-v2 -namespace NS -id ID -address …`) of the processes found.
 */
export function shimContainerIds(commandLines: readonly (readonly string[])[], namespace: string): string[] {
  return commandLines
    .filter((argv) => /containerd-shim/.test(argv[0] ?? '') && argv[argv.indexOf('-namespace') + 1] === namespace)
    .map((argv) => argv[argv.indexOf('-id') + 1] ?? '')
    .filter((id) => id !== '');
}

/** Delay before the n-th restart in a row (1-based): 1 s doubling to 30 s. */
export function restartDelayMs(attempt: number): number {
  return backoffMs(attempt, { baseMs: 1000, maxMs: 30_000 });
}

/** A child that stayed up this long counts as healthy again: its next crash restarts after the shortest delay. */
export const HEALTHY_AFTER_MS = 60_000;
