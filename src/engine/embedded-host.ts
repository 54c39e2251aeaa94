/**
 * The embedded engine's I/O on the machine: programs on PATH, other processes in /proc (another dockerd or sysbox,
 * our own orphans, the containers' shims) and the workspaces' bridge. The decisions are in embedded-plan.ts.
 */
import { execFile } from 'node:child_process';
import { access, constants, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROCESS_CONTROL, wait } from './embedded-child.js';

const execFileAsync = promisify(execFile);

/** A fault of the embedded engine's setup that no retry mends (a missing program, a missing capability). */
export class EmbeddedSetupError extends Error {}

/** Runs a helper program (ip, iptables) with the children's environment; rejects with its stderr. */
export async function runTool(command: string, args: readonly string[], env: Record<string, string>): Promise<string> {
  try {
    return (await execFileAsync(command, [...args], { env })).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: unknown }).stderr;
    const detail = typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim() : err instanceof Error ? err.message : String(err);
    throw new Error(`${command} ${args.join(' ')}: ${detail}`, { cause: err });
  }
}

/** The executable `name` in the first directory of `searchPath` that has one, as a shell finds it. */
export async function findOnPath(name: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(':').filter(Boolean)) {
    const candidate = path.join(dir, name);
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  return undefined;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface ProcessEntry {
  pid: number;
  comm: string;
  argv: string[];
  mountNs: string;
  netNs: string;
}

/** Every other process this daemon can see. */
export async function listProcesses(): Promise<ProcessEntry[]> {
  const entries = await Promise.all(
    (await readdir('/proc'))
      .filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)
      .map(async (name): Promise<ProcessEntry> => {
        const read = (file: string): Promise<string> => readFile(`/proc/${name}/${file}`, 'utf8').catch(() => '');
        const ns = (kind: string): Promise<string> => readlink(`/proc/${name}/ns/${kind}`).catch(() => '');
        const [comm, cmdline, mountNs, netNs] = await Promise.all([read('comm'), read('cmdline'), ns('mnt'), ns('net')]);
        return { pid: Number(name), comm: comm.trim(), argv: cmdline.split('\0').filter(Boolean), mountNs, netNs };
      }),
  );
  return entries.filter((p) => p.comm !== '');
}

export async function ownNamespaces(): Promise<{ mountNs: string; netNs: string }> {
  const [mountNs, netNs] = await Promise.all([readlink('/proc/self/ns/mnt').catch(() => ''), readlink('/proc/self/ns/net').catch(() => '')]);
  return { mountNs, netNs };
}

/**
 * SIGTERM, up to `graceMs` for it to exit, then SIGKILL; then whatever is left of its process group (our children
 * lead their own group). For our own orphans of a crashed run.
 */
export async function terminate(pid: number, graceMs: number): Promise<void> {
  const stat = await readFile(`/proc/${String(pid)}/stat`, 'utf8').catch(() => '');
  const leadsGroup = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2] === String(pid);
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < graceMs && alive(pid); waited += 100) await wait(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  if (leadsGroup) PROCESS_CONTROL.killGroup(pid, 'SIGKILL');
}

/** Polls until the file exists; stops quietly when the signal aborts (the caller knows why). */
export async function waitForFile(file: string, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    if (await access(file).then(() => true, () => false)) return;
    await wait(100, signal);
  }
  throw new Error(`stopped waiting for ${file}`);
}

/** The default-route interface's MTU, or undefined (dockerd's default) when there is no default route. */
export async function defaultRouteMtu(env: Record<string, string>): Promise<number | undefined> {
  const routes = await runTool('ip', ['-o', 'route', 'show', 'default'], env).catch(() => '');
  const dev = /\bdev (\S+)/.exec(routes)?.[1];
  if (dev === undefined) return undefined;
  const mtu = Number.parseInt(await readFile(`/sys/class/net/${dev}/mtu`, 'utf8').catch(() => ''), 10);
  return Number.isInteger(mtu) && mtu > 0 ? mtu : undefined;
}

/**
 * The workspaces' bridge, up with its address and its MAC set (bridgeMacFor: set, it never follows its ports'). A
 * failure here is a missing capability (CAP_NET_ADMIN) or a kernel without bridges, which no retry mends.
 */
export async function ensureBridge(bridge: { name: string; cidr: string; mac: string }, env: Record<string, string>): Promise<void> {
  const { name, cidr, mac } = bridge;
  try {
    const exists = await runTool('ip', ['link', 'show', name], env).then(() => true, () => false);
    if (!exists) await runTool('ip', ['link', 'add', name, 'type', 'bridge'], env);
    await runTool('ip', ['link', 'set', name, 'address', mac], env);
    await runTool('ip', ['addr', 'replace', cidr, 'dev', name], env);
    await runTool('ip', ['link', 'set', name, 'up'], env);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new EmbeddedSetupError(`cannot set up the workspaces' bridge ${name} (embedded mode needs CAP_NET_ADMIN): ${detail}`, { cause: err });
  }
}
