/**
 * For tests of embedded mode (the daemon's own dockerd and sysbox). sysbox allows one sysbox-mgr/sysbox-fs per
 * mount namespace (they own /run/sysbox and /var/lib/sysboxfs), and the test engine's sysbox runs in the host's, so
 * an embedded daemon with sysbox runs in a mount namespace of its own: `unshare -m --propagation private`, with
 * tmpfs over those two directories and bind mounts over the daemon's default directories where a test wants them.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { testDockerHost } from './engine.js';
import { realSysboxBinaries } from './supervisor-image.js';

const run = promisify(execFile);

/** The real sysbox binaries, found as the test engine finds them; or why there are none (the tests skip, saying so). */
export async function sysboxBinDir(): Promise<{ dir: string; version: string } | { missing: string }> {
  return realSysboxBinaries();
}

/**
 * `argv`, run in a mount namespace of its own: tmpfs over sysbox's fixed directories, then `binds` (target ← source
 * directory), then exec (so the pid is argv's program).
 */
export function inOwnMountNamespace(argv: readonly string[], binds: Readonly<Record<string, string>> = {}): { command: string; args: string[] } {
  const steps = [
    'set -e',
    'mkdir -p /run/sysbox /var/lib/sysboxfs',
    'mount -t tmpfs tmpfs /run/sysbox',
    'mount -t tmpfs tmpfs /var/lib/sysboxfs',
    ...Object.entries(binds).map(([target, source]) => `mkdir -p '${target}' && mount --bind '${source}' '${target}'`),
    'exec "$@"',
  ];
  return { command: 'unshare', args: ['-m', '--propagation', 'private', 'sh', '-c', steps.join('\n'), 'sh', ...argv] };
}

export async function mountNamespaceOf(pid: number): Promise<string> {
  return readlink(`/proc/${String(pid)}/ns/mnt`);
}

/**
 * The processes still alive in that mount namespace, with their command lines. A zombie counts as gone: it has
 * exited and only waits for this sandbox's PID 1 to reap it.
 */
export async function aliveIn(mountNs: string): Promise<string[]> {
  const left: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    if ((await readlink(`/proc/${entry}/ns/mnt`).catch(() => '')) !== mountNs) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (stat === '' || stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
    left.push(`${entry} ${(await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ')}`);
  }
  return left;
}

/** Thrown by a probe of until() to end the wait at once: what it waits for can no longer come. */
export class GiveUp extends Error {}

/** Polls `probe` until it gives a value; a probe that throws counts as "not yet", unless it throws GiveUp. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, context: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch((err: unknown) => {
      if (err instanceof GiveUp) throw new Error(`${err.message} while waiting for ${what}${context()}`, { cause: err });
      return undefined;
    });
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}${context()}`);
    await sleep(200);
  }
}

export async function httpStatus(url: string, token?: string): Promise<number> {
  return fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status, () => 0);
}

/** `docker save` from the test engine into `docker load` of another engine. */
export async function copyImage(image: string, toDockerHost: string): Promise<void> {
  await run('sh', ['-c', 'docker -H "$1" save "$3" | docker -H "$2" load', 'sh', testDockerHost(), toDockerHost, image], { timeout: 300_000 });
}

/** The docker CLI against another engine; trimmed stdout. */
export async function dockerAt(dockerHost: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return (await run('docker', ['-H', dockerHost, ...args], { timeout: timeoutMs })).stdout.trim();
}

/**
 * Whether a TCP connection from inside a container (with bash) to host:port is accepted: `connected`, `refused`
 * (a reset) or `no answer` within 3 s (dropped, as the daemon's firewall rule does).
 */
export async function connectFromContainer(dockerHost: string, container: string, host: string, port: number): Promise<'connected' | 'refused' | 'no answer'> {
  const script = `timeout 3 bash -c 'exec 3<>/dev/tcp/${host}/${String(port)}' 2>/dev/null; echo $?`;
  const code = await dockerAt(dockerHost, ['exec', container, 'bash', '-c', script]);
  return code === '0' ? 'connected' : code === '124' ? 'no answer' : 'refused';
}

/** A TCP listener on every address: what a port without the daemon's rule looks like from a workspace. */
export async function controlListener(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the control listener has no port');
  return { server, port: address.port };
}

/** The firewall rules on a bridge, from `iptables -S INPUT`. */
export async function inputRulesOn(bridge: string): Promise<string[]> {
  return (await run('iptables', ['-S', 'INPUT'])).stdout.split('\n').filter((line) => line.includes(`-i ${bridge} `));
}

export async function linkExists(name: string): Promise<boolean> {
  return run('ip', ['link', 'show', name]).then(() => true, () => false);
}

/** The MAC of a network interface of this namespace. */
export async function macOf(name: string): Promise<string> {
  return (await readFile(`/sys/class/net/${name}/address`, 'utf8')).trim();
}

/**
 * Runs `body` while a port with a MAC lower than any veth's joins `bridge`, as a workspace's veth with the lowest MAC
 * does when it starts: a bridge whose MAC is not set takes it, and then no longer answers at the MAC its workspaces
 * have cached. The port is gone again afterwards.
 */
export async function withLowestMacPort<T>(bridge: string, body: () => Promise<T>): Promise<T> {
  const port = `lowmac${String(process.pid % 100_000)}`;
  await run('ip', ['link', 'add', port, 'address', '02:00:00:00:00:01', 'type', 'veth', 'peer', 'name', `${port}p`]);
  try {
    await run('ip', ['link', 'set', port, 'master', bridge]);
    return await body();
  } finally {
    await run('ip', ['link', 'del', port]);
  }
}

/** Empties a container's neighbour (ARP) cache, from this namespace: its next connection resolves the gateway anew. */
export async function forgetNeighbours(dockerHost: string, container: string): Promise<void> {
  const pid = await dockerAt(dockerHost, ['inspect', '-f', '{{.State.Pid}}', container]);
  await run('nsenter', ['-t', pid, '-n', 'ip', 'neigh', 'flush', 'all']);
}
