/**
 * A dockerd of the drill's own, so a drill may stop and restart it: the test engine is shared by everyone working
 * at the same time. Own data root, exec root, pidfile, socket and containerd namespaces under one temp dir, and its
 * own bridge with no iptables rules (not `--bridge=none`: such a dockerd deletes docker0, which another engine on
 * this host may use). It registers the same TEST-ONLY `sysbox-runc` as scripts/engine.sh:
 * test/runtime/sysbox-runc-shim over runc.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { testDockerHost } from '../support/engine.js';

const SHIM = fileURLToPath(new URL('../runtime/sysbox-runc-shim', import.meta.url));
const START_LIMIT_MS = 60_000;
const execFileAsync = promisify(execFile);

async function ip(args: readonly string[]): Promise<void> {
  await execFileAsync('ip', [...args]);
}

export class PrivateEngine {
  readonly socket: string;
  readonly dockerHost: string;
  private readonly dataRoot: string;
  private readonly execRoot: string;
  private readonly log: WriteStream;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  /**
   * `bridge` is a new interface's name (at most 15 characters) and `bridgeAddress` its CIDR address, which must
   * not overlap another network of this host.
   */
  constructor(
    private readonly dir: string,
    private readonly namespace: string,
    private readonly bridge: string,
    private readonly bridgeAddress: string,
  ) {
    this.socket = join(dir, 'docker.sock');
    this.dockerHost = `unix://${this.socket}`;
    this.dataRoot = join(dir, 'data');
    this.execRoot = join(dir, 'exec');
    this.log = createWriteStream(join(dir, 'dockerd.log'), { flags: 'a' });
  }

  /** Spawns dockerd on the same data root as before and resolves once it answers a ping. */
  async start(): Promise<void> {
    await mkdir(this.dataRoot, { recursive: true });
    await mkdir(this.execRoot, { recursive: true });
    if (!(await ip(['link', 'show', this.bridge]).then(() => true, () => false))) {
      await ip(['link', 'add', 'name', this.bridge, 'type', 'bridge']);
      // Set, so that it does not follow the lowest MAC of its ports (the containers' veths) as they come and go: the
      // MAC Docker would derive for a container at the gateway's address, which none gets.
      const octets = (this.bridgeAddress.split('/')[0] ?? '').split('.').map((o) => Number(o).toString(16).padStart(2, '0'));
      await ip(['link', 'set', this.bridge, 'address', ['02', '42', ...octets].join(':')]);
      await ip(['addr', 'add', this.bridgeAddress, 'dev', this.bridge]);
      await ip(['link', 'set', this.bridge, 'up']);
    }
    const child = spawn(
      'dockerd',
      [
        '--data-root', this.dataRoot,
        '--exec-root', this.execRoot,
        '--pidfile', join(this.dir, 'dockerd.pid'),
        '--host', this.dockerHost,
        '--add-runtime', `sysbox-runc=${SHIM}`,
        '--containerd-namespace', this.namespace,
        '--containerd-plugins-namespace', `${this.namespace}-plugins`,
        `--bridge=${this.bridge}`, '--iptables=false', '--ip-masq=false',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.pipe(this.log, { end: false });
    child.stderr.pipe(this.log, { end: false });
    this.child = child;
    this.exited = new Promise((resolve) => child.on('exit', () => { resolve(); }));
    const deadline = performance.now() + START_LIMIT_MS;
    while (!(await this.answers())) {
      if (child.exitCode !== null || performance.now() > deadline) {
        const log = await readFile(join(this.dir, 'dockerd.log'), 'utf8').catch(() => '');
        throw new Error(`private dockerd did not answer (exit ${String(child.exitCode)}); its log ends:\n${log.split('\n').slice(-15).join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Signals dockerd and resolves once the process is gone. */
  async stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    this.child?.kill(signal);
    await this.exited;
    this.child = null;
    if (signal === 'SIGKILL') await this.forgetDeadContainerd();
  }

  /**
   * A SIGKILLed dockerd's containerd dies with it, but this machine's PID 1 reaps orphans late, and a new dockerd
   * takes the zombie for a live containerd and waits on its socket forever. A node's init reaps at once; here the
   * stale pid file is removed instead, once the process is a zombie or gone.
   */
  private async forgetDeadContainerd(): Promise<void> {
    const pidFile = join(this.execRoot, 'containerd', 'containerd.pid');
    const pid = (await readFile(pidFile, 'utf8').catch(() => '')).trim();
    if (pid === '') return;
    const deadline = performance.now() + 10_000;
    for (;;) {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
      // The state is the field after the parenthesised command name.
      if (stat === null || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) break;
      if (performance.now() > deadline) throw new Error(`containerd ${pid} outlived its SIGKILLed dockerd`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await rm(pidFile, { force: true });
  }

  /** Whether GET /_ping answers 200 within 500 ms. */
  answers(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request({ socketPath: this.socket, path: '/_ping', timeout: 500 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => { resolve(false); });
      req.end();
    });
  }

  /** Copies an image from the shared test engine (no registry is reachable): docker save | docker load. */
  async loadImage(ref: string): Promise<void> {
    await execFileAsync('sh', ['-c', 'docker -H "$FROM" save "$REF" | docker -H "$TO" load'], {
      env: { ...process.env, FROM: testDockerHost(), TO: this.dockerHost, REF: ref },
      timeout: 120_000,
    });
  }

  /**
   * Stops dockerd, which stops its containers (started again first if a failed restart left it down, so nothing
   * keeps running), and lazily unmounts whatever it left under the temp dir.
   */
  async destroy(): Promise<void> {
    if (!this.child) await this.start().catch((err: unknown) => { console.error(`private dockerd: ${String(err)}`); });
    if (this.child) await this.stop('SIGTERM');
    this.log.end();
    await this.killLeftoverShims();
    // Twice: a lazy unmount of a parent can leave a child mount listed for a moment.
    for (let pass = 0; pass < 2; pass++) {
      const mounts = await readFile('/proc/self/mountinfo', 'utf8');
      const leftovers = mounts
        .split('\n')
        .map((line) => line.split(' ')[4] ?? '')
        .filter((target) => target.startsWith(`${this.dir}/`))
        .sort()
        .reverse();
      for (const target of leftovers) await execFileAsync('umount', ['-l', target]).catch(() => undefined);
    }
    await ip(['link', 'del', this.bridge]).catch(() => undefined);
  }

  /**
   * Containers whose dockerd died for good (a restart that never answered) keep running under their shims: the
   * shims of this engine's containerd namespace, and everything below them, are killed.
   */
  private async killLeftoverShims(): Promise<void> {
    const parents = new Map<number, number>();
    const shims: number[] = [];
    for (const entry of await readdir('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
      parents.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (cmdline.includes('containerd-shim') && cmdline.split('\0').includes(this.namespace)) shims.push(pid);
    }
    const doomed = new Set(shims);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, parent] of parents) {
        if (doomed.has(parent) && !doomed.has(pid)) {
          doomed.add(pid);
          grew = true;
        }
      }
    }
    for (const pid of doomed) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
