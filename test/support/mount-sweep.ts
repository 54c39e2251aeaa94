/**
 * vitest setupFile, the mount sweep: in each integration test file it follows the engine's events while the file
 * runs and inspects every workspace container created or started meanwhile (label dev.cvm-supervisor.workspace,
 * whichever test made it), resolving each bind source on this machine (the test engine's host) at that moment.
 * After the file it fails when a bind source resolved under a protected path: src/container/protected-paths.ts's
 * list, the engine's data root and its socket's directory. The GPU driver's files, bound read-only, are the
 * product's one exception (the GPU CVM test binds one from /usr/lib).
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { WORKSPACE_LABEL } from '../../src/container/labels.js';
import { forbiddenReason } from '../../src/container/protected-paths.js';
import { DRIVER_FILES } from '../../src/gpu/capabilities.js';
import { engineRequest, testDockerHost } from './engine.js';
import { EngineEvents } from './engine-events.js';

interface RawContainer {
  Name: string;
  Mounts: { Type: string; Source: string; Destination: string; RW: boolean }[];
}

const DRIVER_FILE_NAMES = Object.values(DRIVER_FILES).flatMap((files) => [
  ...files.libraries.map((base) => new RegExp(`^${base}\\.so\\.[0-9.]+$`)),
  ...files.binaries.map((name) => new RegExp(`^${name}$`)),
]);

const isDriverFile = (mount: RawContainer['Mounts'][number]): boolean =>
  !mount.RW && DRIVER_FILE_NAMES.some((name) => name.test(path.basename(mount.Source)));

async function resolved(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    return p;
  }
}

const file = expect.getState().testPath ?? '';

if (file.includes(`${path.sep}test${path.sep}integration${path.sep}`)) {
  let events: EngineEvents | null = null;
  const inspections: Promise<void>[] = [];
  const inspected = new Set<string>();
  const findings = new Set<string>();

  async function inspect(id: string, protectedPaths: readonly string[]): Promise<void> {
    const response = await engineRequest('GET', `/containers/${id}/json`);
    // Removed before it could be looked at: it is neither started nor startable any more.
    if (response.status === 404) return;
    const container = JSON.parse(response.body) as RawContainer;
    inspected.add(id);
    for (const mount of container.Mounts.filter((m) => m.Type === 'bind' && !isDriverFile(m))) {
      const real = await resolved(mount.Source);
      const reason = forbiddenReason(real, protectedPaths);
      if (reason !== null) findings.add(`${container.Name}: bind ${mount.Source} (resolves to ${real}) → ${mount.Destination}: ${reason}`);
    }
  }

  beforeAll(async () => {
    const info = await engineRequest('GET', '/info').catch(() => null);
    // No engine: no container can be made, so there is nothing to sweep (the file's own checks say why it cannot run).
    if (info?.status !== 200) return;
    const { DockerRootDir } = JSON.parse(info.body) as { DockerRootDir: string };
    const host = testDockerHost();
    const protectedPaths = [DockerRootDir, ...(host.startsWith('unix://') ? [path.dirname(new URL(host).pathname)] : [])];
    events = new EngineEvents({ type: ['container'], event: ['create', 'start'], label: [WORKSPACE_LABEL] });
    events.onEvent((e) => inspections.push(inspect(e.Actor.ID, protectedPaths)));
    await events.ready;
  });

  afterAll(async () => {
    events?.close();
    await Promise.all(inspections);
    if (inspected.size > 0) console.log(`mount sweep: ${String(inspected.size)} workspace containers inspected, ${String(findings.size)} bind sources in a protected path`);
    expect([...findings]).toEqual([]);
  });
}
