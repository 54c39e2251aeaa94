/**
 * Docker inside a CVM, reached with `docker exec` on the test engine. No registry is reachable, so an inner image
 * comes from the test engine (`docker save | docker exec -i … docker load`); `docker cp` into a running sysbox
 * container fails (nestybox/sysbox#1017), so files go in through an exec's stdin.
 */
import { spawn } from 'node:child_process';
import { docker, testDockerHost } from './engine.js';

/** Copies `image` from the test engine into the Docker engine running inside `container`. */
export async function loadIntoInnerDocker(container: string, image: string, timeoutMs = 120_000): Promise<void> {
  const env = { ...process.env, DOCKER_HOST: testDockerHost() };
  const save = spawn('docker', ['save', image], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const load = spawn('docker', ['exec', '-i', container, 'docker', 'load'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  save.stdout.pipe(load.stdin);
  const exited = (child: ReturnType<typeof spawn>, what: string): Promise<void> => {
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve();
        else reject(new Error(`${what} exited with ${String(code)}: ${stderr.trim()}`));
      });
    });
  };
  const timer = setTimeout(() => {
    save.kill();
    load.kill();
  }, timeoutMs);
  try {
    await Promise.all([exited(save, `docker save ${image}`), exited(load, `docker load in ${container}`)]);
  } finally {
    clearTimeout(timer);
  }
}

/** Builds `tag` inside `container` from a Dockerfile given as text (the build context is empty). */
export function buildInInnerDocker(container: string, tag: string, dockerfile: string, timeoutMs = 120_000): Promise<string> {
  return docker(['exec', container, 'sh', '-c', `printf '%s' "$0" | docker build -q -t ${tag} -`, dockerfile], timeoutMs);
}

/** The inner Docker's image tags, sorted (`repo:tag`). */
export async function innerImages(container: string): Promise<string[]> {
  const out = await docker(['exec', container, 'docker', 'image', 'ls', '--format', '{{.Repository}}:{{.Tag}}']);
  return out.split('\n').filter((line) => line !== '').sort();
}
