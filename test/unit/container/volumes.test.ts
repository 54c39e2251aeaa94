import { describe, expect, it } from 'vitest';
import { INSTANCE_LABEL, WORKSPACE_LABEL } from '../../../src/container/labels.js';
import { checkVolumes, volumeRefusal, volumesOf } from '../../../src/container/volumes.js';
import type { VolumeDetails } from '../../../src/engine/types.js';
import { InvalidSpecError } from '../../../src/errors.js';

const volume = (overrides: Partial<VolumeDetails> = {}): VolumeDetails => ({
  name: 'ws-home',
  labels: { [WORKSPACE_LABEL]: 'dev-1' },
  mountpoint: '/var/lib/docker/volumes/ws-home/_data',
  driver: 'local',
  options: {},
  ...overrides,
});

describe('volumesOf', () => {
  it('names the default home volume, a named one and the Docker data, each with its field', () => {
    expect(volumesOf('dev-1', {}, undefined)).toEqual([{ name: 'cvm-dev-1-home', where: 'home.volume' }]);
    expect(volumesOf('dev-1', { home: { volume: 'h' }, dockerData: { volume: 'd' } }, undefined)).toEqual([
      { name: 'h', where: 'home.volume' },
      { name: 'd', where: 'dockerData.volume' },
    ]);
  });

  it('refuses one volume as both home and Docker data, the default home name included', () => {
    expect(() => volumesOf('dev-1', { dockerData: { volume: 'cvm-dev-1-home' } }, undefined)).toThrow(
      new InvalidSpecError('dockerData.volume', "cvm-dev-1-home is also home.volume; a workspace's Docker data needs a volume of its own"),
    );
  });
});

describe('volumeRefusal', () => {
  it('allows a volume that does not exist yet, and one the daemon made for the workspace', () => {
    expect(volumeRefusal('dev-1', undefined, undefined)).toBeNull();
    expect(volumeRefusal('dev-1', volume(), undefined)).toBeNull();
    expect(volumeRefusal('dev-1', volume({ labels: { [WORKSPACE_LABEL]: 'dev-1', other: 'x' } }), undefined)).toBeNull();
  });

  it.each([
    ["another workspace's", volume({ labels: { [WORKSPACE_LABEL]: 'dev-2' } }), 'ws-home belongs to workspace dev-2; volumes are not shared between workspaces'],
    ['an unlabelled', volume({ labels: {} }), `ws-home was not made by this daemon for workspace dev-1 (it lacks ${WORKSPACE_LABEL}=dev-1)`],
    ['a plugin', volume({ driver: 'rexray' }), 'ws-home uses the volume driver rexray; only local volumes are allowed'],
    ['a bind in disguise', volume({ options: { type: 'none', o: 'bind', device: '/var/run' } }), 'ws-home has driver options (device, o, type); only volumes without options are allowed'],
    ['a CIFS share, without its password', volume({ options: { type: 'cifs', o: 'username=u,password=hunter2' } }), 'ws-home has driver options (o, type); only volumes without options are allowed'],
  ])('refuses %s volume', (_name, details, reason) => {
    expect(volumeRefusal('dev-1', details, undefined)).toBe(reason);
  });
});

describe('daemon instances sharing one engine', () => {
  it("names a named daemon's default home volume after it, and labels and refuses by it", () => {
    expect(volumesOf('dev-1', {}, 'ns-a.dev-1')).toEqual([{ name: 'cvm-dev-1-home.ns-a.dev-1', where: 'home.volume' }]);
    const mine = volume({ labels: { [WORKSPACE_LABEL]: 'dev-1', [INSTANCE_LABEL]: 'ns-a.dev-1' } });
    expect(volumeRefusal('dev-1', mine, 'ns-a.dev-1')).toBeNull();
    expect(volumeRefusal('dev-1', mine, 'ns-b.dev-1')).toBe('ws-home belongs to daemon instance ns-a.dev-1 on this engine; volumes are not shared between daemons');
    expect(volumeRefusal('dev-1', mine, undefined)).toBe('ws-home belongs to daemon instance ns-a.dev-1 on this engine; volumes are not shared between daemons');
    // Made before instance labels existed, or by the node's unnamed daemon: a named daemon leaves it alone.
    expect(volumeRefusal('dev-1', volume(), 'ns-a.dev-1')).toBe('ws-home belongs to the daemon without --instance on this engine; volumes are not shared between daemons');
  });
});

describe('checkVolumes', () => {
  it('names the field of the first refused volume', () => {
    const uses = volumesOf('dev-1', { home: { volume: 'h' }, dockerData: { volume: 'd' } }, undefined);
    const inspected = new Map([['h', volume({ name: 'h' })], ['d', volume({ name: 'd', labels: { [WORKSPACE_LABEL]: 'dev-9' } })]]);
    expect(() => { checkVolumes('dev-1', uses, inspected, undefined); }).toThrow(new InvalidSpecError('dockerData.volume', 'd belongs to workspace dev-9; volumes are not shared between workspaces'));
    expect(() => { checkVolumes('dev-1', uses, new Map(), undefined); }).not.toThrow();
  });
});
