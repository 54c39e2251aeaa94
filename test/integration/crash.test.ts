/**
 * Crash safety of the real binary: `cvm-supervisor serve` is SIGKILLed at exact moments of create and rebuild
 * (chosen by the engine's own event stream), then started again on the same state dir. The restarted daemon must
 * converge to exactly one running container per workspace, keep the home volume's data, remove the stale
 * inspection container, and never report `failed` on the way.
 *
 * `sysbox-runc` in the test engine is real sysbox, or the test-only shim over runc on machines without it
 * (test/README.md); these tests hold on both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess } from '../support/daemon-process.js';
import { docker, removeLabelled, requireTestEngine } from '../support/engine.js';
import { EngineEvents, type EngineEvent } from '../support/engine-events.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WORKSPACE_LABEL = 'dev.cvm-supervisor.workspace';
const INSPECTION_LABEL = 'dev.cvm-supervisor.inspection';

function bootEnv(id: string, marker: string): Record<string, string> {
  return {
    CVM_BOOT_WORKSPACE_ID: id,
    CODER_INNER_IMAGE: BUSYBOX_IMAGE,
    CODER_INNER_USERNAME: 'coder',
    CODER_INNER_ENVS: 'CRASH_MARKER',
    CRASH_MARKER: marker,
  };
}

async function containersOf(id: string): Promise<string[]> {
  const out = await docker(['ps', '-aq', '--no-trunc', '--filter', `label=${WORKSPACE_LABEL}=${id}`]);
  return out.split('\n').filter(Boolean);
}

/** Which of these containers still exist (other test files run their own daemons on this engine meanwhile). */
async function stillThere(ids: readonly string[]): Promise<string[]> {
  const out = await docker(['ps', '-aq', '--no-trunc', '--filter', `label=${INSPECTION_LABEL}`]);
  const present = new Set(out.split('\n').filter(Boolean));
  return ids.filter((id) => present.has(id));
}

/** A home volume that already holds the user's data, as after an earlier workspace deleted without purge. */
async function seedHome(id: string): Promise<void> {
  await docker(['volume', 'create', '--label', `${WORKSPACE_LABEL}=${id}`, `cvm-${id}-home`]);
  await docker(['run', '--rm', '-v', `cvm-${id}-home:/h`, BUSYBOX_IMAGE, 'sh', '-c', 'echo precious > /h/keep.txt']);
}

async function homeFile(id: string): Promise<string> {
  return docker(['exec', `cvm-${id}`, 'cat', '/home/coder/keep.txt']);
}

/**
 * Starts the daemon, SIGKILLs it on the first matching engine event, and waits until it is gone. Returns the
 * inspection containers it created, which the next daemon must clean up.
 */
async function killDaemonAt(stateDir: string, env: Record<string, string>, match: (e: EngineEvent) => boolean, what: string): Promise<string[]> {
  const events = new EngineEvents({ type: ['container'] });
  await events.ready;
  const inspections: string[] = [];
  events.onEvent((e) => {
    if (e.Action === 'create' && INSPECTION_LABEL in e.Actor.Attributes) inspections.push(e.Actor.ID);
  });
  // Inspection containers on purpose: the daemon would otherwise read the test engine's layers and make none.
  const daemon = new DaemonProcess(['--state-dir', stateDir, '--image-facts-from', 'inspection'], env);
  try {
    await events.once(match, () => { daemon.kill('SIGKILL'); }, 60_000, what);
    expect(await daemon.exited).toBeNull(); // killed by a signal, not exited
    return inspections;
  } finally {
    events.close();
    daemon.kill('SIGKILL'); // when the event never came
  }
}

/** Restarts the daemon, waits for `running`, checks the invariants, then stops it with SIGTERM (exit 0). */
async function restartAndVerify(stateDir: string, id: string, env: Record<string, string>, leftovers: readonly string[] = []): Promise<void> {
  const daemon = new DaemonProcess(['--state-dir', stateDir, '--shutdown-policy', 'keep'], env);
  try {
    await daemon.waitForPhase(id, 'running');
    expect(daemon.phasesOf(id)).not.toContain('failed');
    const containers = await containersOf(id);
    expect(containers).toHaveLength(1);
    expect(await docker(['inspect', '-f', '{{.State.Running}}', `cvm-${id}`])).toBe('true');
    expect(await docker(['inspect', '-f', '{{range .Config.Env}}{{println .}}{{end}}', `cvm-${id}`])).toContain(
      `CRASH_MARKER=${env['CRASH_MARKER'] ?? ''}`,
    );
    expect(await homeFile(id)).toBe('precious');
    expect(await stillThere(leftovers)).toEqual([]);
  } finally {
    daemon.kill('SIGTERM');
  }
  expect(await daemon.exited).toBe(0);
}

const isWorkspace = (id: string) => (e: EngineEvent) => e.Actor.Attributes['name'] === `cvm-${id}`;

const CREATE_IDS = ['crash-c-inspect', 'crash-c-create', 'crash-c-start'] as const;
const REBUILD_IDS = ['crash-r-die', 'crash-r-destroy', 'crash-r-create'] as const;

async function removeTestWorkspaces(): Promise<void> {
  for (const id of [...CREATE_IDS, ...REBUILD_IDS]) await removeLabelled(`${WORKSPACE_LABEL}=${id}`);
}

beforeAll(async () => {
  await requireTestEngine({ images: [BUSYBOX_IMAGE], runtimes: ['sysbox-runc'] });
  await removeTestWorkspaces(); // fixed ids: clear what an interrupted earlier run may have left
});
afterAll(removeTestWorkspaces);

describe('SIGKILL in the middle of create', () => {
  const ids = CREATE_IDS;

  it.each([
    ['the inspection container is created', ids[0], (_id: string) => (e: EngineEvent) => e.Action === 'create' && INSPECTION_LABEL in e.Actor.Attributes],
    ['the workspace container is created', ids[1], (id: string) => (e: EngineEvent) => e.Action === 'create' && isWorkspace(id)(e)],
    ['the workspace container starts', ids[2], (id: string) => (e: EngineEvent) => e.Action === 'start' && isWorkspace(id)(e)],
  ])('when %s', { timeout: 120_000 }, async (what, id, match) => {
    const stateDir = await mkdtemp(join(tmpdir(), 'cvm-crash-'));
    await seedHome(id);
    const env = bootEnv(id, 'one');
    const leftovers = await killDaemonAt(stateDir, env, match(id), what);
    await restartAndVerify(stateDir, id, env, leftovers);
  });
});

describe('SIGKILL in the middle of rebuild', () => {
  const ids = REBUILD_IDS;

  it.each([
    ['the old container has died', ids[0], 'die'],
    ['the old container is destroyed', ids[1], 'destroy'],
    ['the new container is created', ids[2], 'create'],
  ])('when %s', { timeout: 180_000 }, async (_what, id, action) => {
    const stateDir = await mkdtemp(join(tmpdir(), 'cvm-crash-'));
    await seedHome(id);
    // Generation 1 runs; the daemon leaves it running (policy keep).
    await restartAndVerify(stateDir, id, bootEnv(id, 'one'));
    const oldId = (await containersOf(id))[0] ?? '';

    // A changed declaration makes the next daemon rebuild; it is killed at the chosen step.
    const changed = bootEnv(id, 'two');
    const atStep = (e: EngineEvent): boolean =>
      e.Action === action && isWorkspace(id)(e) && (action === 'create' ? e.Actor.ID !== oldId : e.Actor.ID === oldId);
    const leftovers = await killDaemonAt(stateDir, changed, atStep, `${action} during rebuild`);

    await restartAndVerify(stateDir, id, changed, leftovers);
    expect(await containersOf(id)).not.toContain(oldId);
  });
});
