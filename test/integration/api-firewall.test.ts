/**
 * Host mode, a daemon on the node's own network: a workspace on the engine's bridge reaches every address of the
 * node, the daemon's port included, unless the daemon drops that traffic (--block-api-from-bridge). On the test
 * engine (bridge cvmtest0): the daemon as `serve` builds it listens on 0.0.0.0 with the flag, a workspace it made
 * tries its port on the bridge's gateway and on the node's other address, and gets no answer, while a plain
 * server of the test on the same addresses answers it (so the network works and the test could fail). A
 * DOCKER-USER rule alone does not stop it (the documented rule for a daemon in a pod's network, not this one).
 * When the daemon stops, its rule is gone. Only rules this test or its daemon inserted are touched.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { WORKSPACE_LABEL } from '../../src/container/labels.js';
import { dropRule } from '../../src/daemon/api-firewall.js';
import { type Daemon, startDaemon } from '../../src/daemon/run.js';
import { type ApiCall, apiClient } from '../support/api-client.js';
import { docker, removeLabelled, requireTestEngine, testDockerHost } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { untilRunning } from '../support/until-phase.js';

const RUN = randomBytes(3).toString('hex');
const ID = `firewall-${RUN}`;
const BRIDGE = 'cvmtest0';
const GATEWAY = '172.31.254.1';
const iptables = promisify(execFile);
const NO_ANSWER = 'no answer within 8 s';

/** The node's first IPv4 address that is neither loopback nor on an engine bridge (eth0 here), if any. */
function otherNodeAddress(): string | undefined {
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    if (name === BRIDGE || name.startsWith('docker') || name.startsWith('br-') || name.startsWith('cvm')) continue;
    const found = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (found) return found.address;
  }
  return undefined;
}

/** Whether iptables has `rule` in `chain` (-C exits 0). */
async function hasRule(chain: string, rule: string[]): Promise<boolean> {
  return iptables('iptables', ['-w', '5', '-C', chain, ...rule]).then(() => true, () => false);
}

describe(`--block-api-from-bridge ${BRIDGE}: a workspace cannot reach the daemon's port`, () => {
  let dir: string;
  let daemon: Daemon;
  let stopped = false;
  let api: ApiCall;
  let port: number;
  let control: Server;
  let controlPort: number;
  const targets = [GATEWAY, otherNodeAddress()].filter((a): a is string => a !== undefined);
  const userRule = (): string[] => ['-i', BRIDGE, '-p', 'tcp', '--dport', String(controlPort), '-m', 'comment', '--comment', `cvm-supervisor test ${RUN}`, '-j', 'DROP'];

  /** An HTTP request from inside the workspace; its first line, or NO_ANSWER when nothing answered within 8 s. */
  async function fromWorkspace(address: string, to: number): Promise<string> {
    const script = `printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' | timeout 8 nc ${address} ${String(to)} | head -1; true`;
    return (await docker(['exec', `cvm-${ID}`, 'sh', '-c', script], 30_000)) || NO_ANSWER;
  }

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    dir = await mkdtemp(path.join(tmpdir(), `cvm-firewall-${RUN}-`));
    const token = randomBytes(32).toString('hex');
    await writeFile(path.join(dir, 'token'), `${token}\n`);
    control = createServer((_request, response) => response.end('control\n'));
    await new Promise<void>((resolve) => control.listen(0, '0.0.0.0', resolve));
    controlPort = (control.address() as AddressInfo).port;
    const config = loadConfig(
      ['--listen', '0.0.0.0:0', '--token-file', path.join(dir, 'token'), '--state-dir', path.join(dir, 'state'), '--docker-host', testDockerHost(),
        '--block-api-from-bridge', BRIDGE, '--shutdown-policy', 'stop'],
      {},
    );
    daemon = await startDaemon(config, pino({ level: 'silent' }));
    expect(await daemon.started).toBe(true);
    port = (daemon.app.server.address() as AddressInfo).port;
    api = apiClient(() => `http://127.0.0.1:${String(port)}`, token);
    expect((await api('PUT', `/v1/workspaces/${ID}`, { image: BUSYBOX_IMAGE, cvm: false, pullPolicy: 'never' })).status).toBe(201);
    await untilRunning(daemon.manager, ID);
  });
  afterAll(async () => {
    if (!stopped) for (const step of daemon.shutdownSteps) await step(Date.now() + 20_000);
    await removeLabelled(`${WORKSPACE_LABEL}=${ID}`);
    // Only if a test failed half-way: the rules this file inserted, by their exact spec.
    while (await hasRule('DOCKER-USER', userRule())) await iptables('iptables', ['-w', '5', '-D', 'DOCKER-USER', ...userRule()]);
    while (await hasRule('INPUT', dropRule(BRIDGE, port))) await iptables('iptables', ['-w', '5', '-D', 'INPUT', ...dropRule(BRIDGE, port)]);
    await new Promise((resolve) => control.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('the daemon inserted its INPUT rule for its port', async () => {
    expect(await hasRule('INPUT', dropRule(BRIDGE, port))).toBe(true);
  });

  it('from inside the workspace, the node answers on another port but not on the daemon\'s, on every node address', async () => {
    expect(targets.length).toBeGreaterThan(0);
    for (const address of targets) {
      expect(await fromWorkspace(address, controlPort), `${address}:${String(controlPort)} (control)`).toMatch(/^HTTP\/1\.1 200/);
      expect(await fromWorkspace(address, port), `${address}:${String(port)} (the daemon)`).toBe(NO_ANSWER);
    }
  });

  it('a DOCKER-USER rule alone does not keep a workspace from a server on the node\'s network (INPUT does)', async () => {
    await iptables('iptables', ['-w', '5', '-I', 'DOCKER-USER', ...userRule()]);
    try {
      expect(await fromWorkspace(GATEWAY, controlPort)).toMatch(/^HTTP\/1\.1 200/);
    } finally {
      await iptables('iptables', ['-w', '5', '-D', 'DOCKER-USER', ...userRule()]);
    }
  });

  it('removes its rule when it stops', async () => {
    stopped = true;
    for (const step of daemon.shutdownSteps) await step(Date.now() + 20_000);
    expect(await hasRule('INPUT', dropRule(BRIDGE, port))).toBe(false);
  });
});
