/** The engine side of the volume rule, over an in-memory engine that makes volumes as dockerd does. */
import { describe, expect, it } from 'vitest';
import { WORKSPACE_LABEL } from '../../../src/container/labels.js';
import type { VolumeDetails } from '../../../src/engine/types.js';
import { InvalidSpecError } from '../../../src/errors.js';
import { checkWorkspaceVolumes, makeMissingVolumes, readWorkspaceVolumes } from '../../../src/lifecycle/volumes.js';

/** dockerd's `volume create` of a name that exists returns the existing volume, labels and options unchanged. */
class VolumeStore {
  readonly volumes = new Map<string, VolumeDetails>();
  created: string[] = [];
  /** Runs once, between the daemon's first look and its create (someone else making the same name). */
  beforeCreate: (() => void) | null = null;

  add(name: string, labels: Record<string, string>, options: Record<string, string> = {}): void {
    this.volumes.set(name, { name, labels, options, driver: 'local', mountpoint: `/var/lib/docker/volumes/${name}/_data` });
  }

  inspectVolume(name: string): Promise<VolumeDetails | undefined> {
    return Promise.resolve(this.volumes.get(name));
  }

  createVolume(name: string, labels: Record<string, string>): Promise<VolumeDetails> {
    this.beforeCreate?.();
    this.beforeCreate = null;
    if (!this.volumes.has(name)) {
      this.add(name, labels);
      this.created.push(name);
    }
    const volume = this.volumes.get(name);
    return volume ? Promise.resolve(volume) : Promise.reject(new Error(`${name} vanished`));
  }
}

const spec = { home: { volume: 'h' }, dockerData: { volume: 'd' } };

/** What the create does: read the volumes (beside its other reads), then check them and make the missing ones. */
async function ensureWorkspaceVolumes(engine: VolumeStore): Promise<void> {
  await makeMissingVolumes(engine, await readWorkspaceVolumes(engine, 'dev-1', spec, undefined));
}

describe('workspace volumes', () => {
  it('checks at PUT without making anything', async () => {
    const engine = new VolumeStore();
    await checkWorkspaceVolumes(engine, 'dev-1', spec, undefined);
    engine.add('d', { [WORKSPACE_LABEL]: 'dev-1' }, { o: 'bind', device: '/var/run', type: 'none' });
    await expect(checkWorkspaceVolumes(engine, 'dev-1', spec, undefined)).rejects.toThrow(InvalidSpecError);
    expect(engine.created).toEqual([]);
  });

  it('makes the missing volumes with the workspace label, and keeps those it made before', async () => {
    const engine = new VolumeStore();
    engine.add('h', { [WORKSPACE_LABEL]: 'dev-1' });
    await ensureWorkspaceVolumes(engine);
    expect(engine.created).toEqual(['d']);
    expect(engine.volumes.get('d')?.labels).toEqual({ [WORKSPACE_LABEL]: 'dev-1' });
  });

  it('makes nothing when one volume is refused', async () => {
    const engine = new VolumeStore();
    engine.add('d', { [WORKSPACE_LABEL]: 'dev-2' });
    const error = await ensureWorkspaceVolumes(engine).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidSpecError);
    expect((error as InvalidSpecError).path).toBe('dockerData.volume');
    expect(engine.created).toEqual([]);
  });

  it('refuses a volume someone else made under the same name between the check and the create', async () => {
    const engine = new VolumeStore();
    engine.beforeCreate = () => {
      engine.add('h', { [WORKSPACE_LABEL]: 'dev-1' }, { o: 'bind', device: '/', type: 'none' });
    };
    const error = await ensureWorkspaceVolumes(engine).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidSpecError);
    expect((error as InvalidSpecError).message).toBe('home.volume: h has driver options (device, o, type); only volumes without options are allowed');
  });
});
