/**
 * Helpers for integration tests against the test engine (scripts/engine.sh), over the Engine API with
 * node:http (only src/engine may use dockerode), plus a docker CLI runner for tests that want the CLI.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { promisify } from 'node:util';

export const PRIVATE_TEST_DOCKER_HOST = 'unix:///run/cvm-supervisor-test/docker.sock';
/** The CVM runtime's name: real sysbox in the test engine, or the test-only shim where sysbox is missing (cvm-runtime.ts). */
export const CVM_RUNTIME = 'sysbox-runc';

export function testDockerHost(): string {
  return process.env['DOCKER_HOST'] ?? PRIVATE_TEST_DOCKER_HOST;
}

/** Connection options for node:http from a DOCKER_HOST value (unix:// or tcp://). */
export function connectionOf(dockerHost: string): { socketPath: string } | { host: string; port: number } {
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return { host: url.hostname, port: Number(url.port || '2375') };
}

interface EngineResponse {
  status: number;
  body: string;
}

export function engineRequest(method: string, path: string): Promise<EngineResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ ...connectionOf(testDockerHost()), method, path, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

export interface TestEngineNeeds {
  images?: readonly string[];
  runtimes?: readonly string[];
}

/** Throws one clear message naming everything the engine lacks and how to get it. */
export async function requireTestEngine(needs: TestEngineNeeds = {}): Promise<void> {
  const host = testDockerHost();
  let info: EngineResponse;
  try {
    info = await engineRequest('GET', '/info');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`No Docker engine answers at ${host} (${reason}). Run the tests with \`npm test\`, ` +
      'or start the test engine with `scripts/engine.sh start`.', { cause: error });
  }
  if (info.status !== 200) throw new Error(`GET /info at ${host} answered ${info.status}: ${info.body}`);
  const problems: string[] = [];
  const runtimes = Object.keys((JSON.parse(info.body) as { Runtimes?: Record<string, unknown> }).Runtimes ?? {});
  for (const runtime of needs.runtimes ?? []) {
    if (!runtimes.includes(runtime)) {
      problems.push(`runtime ${runtime} is not registered (scripts/engine.sh registers sysbox, or the test-only shim without it)`);
    }
  }
  for (const image of needs.images ?? []) {
    const inspected = await engineRequest('GET', `/images/${encodeURIComponent(image)}/json`);
    if (inspected.status === 404) problems.push(`image ${image} is missing (run scripts/build-test-images.sh)`);
    else if (inspected.status !== 200) problems.push(`image ${image}: inspect answered ${inspected.status}`);
  }
  const bridge = await unsetBridgeMac();
  if (bridge !== undefined) problems.push(bridge);
  if (problems.length > 0) throw new Error(`The engine at ${host} is not ready for this test: ${problems.join('; ')}`);
}

/**
 * The engine's bridge, when this machine has it and its MAC is the kernel's pick: that one follows the bridge's lowest
 * port MAC, so a workspace starting or going in another test file changes it, and the workspaces that cached the old
 * one get no answer from the gateway for up to a minute. scripts/engine.sh sets it.
 */
async function unsetBridgeMac(): Promise<string | undefined> {
  const network = await engineRequest('GET', '/networks/bridge');
  if (network.status !== 200) return undefined;
  const name = (JSON.parse(network.body) as { Options?: Record<string, string> }).Options?.['com.docker.network.bridge.name'];
  if (name === undefined) return undefined;
  const assigned = await readFile(`/sys/class/net/${name}/addr_assign_type`, 'utf8').catch(() => undefined);
  if (assigned === undefined || assigned.trim() === '3') return undefined;
  return `bridge ${name} has no MAC of its own, so workspaces lose the gateway whenever another workspace's veth comes or goes ` +
    `(start the engine with scripts/engine.sh, which sets one, or set it by hand: ip link set ${name} address 02:42:ac:1f:fe:01)`;
}

function labelFilter(label: string): string {
  return encodeURIComponent(JSON.stringify({ label: [label] }));
}

function expectStatus(response: EngineResponse, expected: readonly number[], what: string): void {
  if (!expected.includes(response.status)) throw new Error(`${what}: ${response.status} ${response.body}`);
}

/** Removes every container (with its anonymous volumes) carrying `label` ("key" or "key=value"). */
export async function removeContainersLabelled(label: string): Promise<void> {
  const containers = await engineRequest('GET', `/containers/json?all=true&filters=${labelFilter(label)}`);
  expectStatus(containers, [200], 'list containers');
  for (const { Id } of JSON.parse(containers.body) as { Id: string }[]) {
    const removed = await engineRequest('DELETE', `/containers/${Id}?force=true&v=true`);
    expectStatus(removed, [204, 404], `remove container ${Id}`);
  }
}

/** Removes every container (with its anonymous volumes) and then every volume carrying `label` ("key" or "key=value"). */
export async function removeLabelled(label: string): Promise<void> {
  await removeContainersLabelled(label);
  const volumes = await engineRequest('GET', `/volumes?filters=${labelFilter(label)}`);
  expectStatus(volumes, [200], 'list volumes');
  for (const { Name } of (JSON.parse(volumes.body) as { Volumes: { Name: string }[] | null }).Volumes ?? []) {
    const removed = await engineRequest('DELETE', `/volumes/${encodeURIComponent(Name)}?force=true`);
    expectStatus(removed, [204, 404], `remove volume ${Name}`);
  }
}

const execFileAsync = promisify(execFile);

/** Runs the docker CLI against the test engine and returns its trimmed stdout; rejects on a non-zero exit. */
export async function docker(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await execFileAsync('docker', [...args], {
    env: { ...process.env, DOCKER_HOST: testDockerHost() },
    timeout: timeoutMs,
  });
  return stdout.trim();
}
