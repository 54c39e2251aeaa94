import { describe, expect, it } from 'vitest';
import { WORKSPACE_LABEL } from '../../../src/container/labels.js';
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
    expect(volumesOf('dev-1', {})).toEqual([{ name: 'cvm-dev-1-home', where: 'home.volume' }]);
    expect(volumesOf('dev-1', { home: { volume: 'h' }, dockerData: { volume: 'd' } })).toEqual([
      { name: 'h', where: 'home.volume' },
      { name: 'd', where: 'dockerData.volume' },
    ]);
  });

  it('refuses one volume as both home and Docker data, the default home name included', () => {
    expect(() => volumesOf('dev-1', { dockerData: { volume: 'cvm-dev-1-home' } })).toThrow(
      new InvalidSpecError('dockerData.volume', "cvm-dev-1-home is also home.volume; a workspace's Docker data needs a volume of its own"),
    );
  });
});

describe('volumeRefusal', () => {
  it('allows a volume that does not exist yet, and one the daemon made for the workspace', () => {
    expect(volumeRefusal('dev-1', undefined)).toBeNull();
    expect(volumeRefusal('dev-1', volume())).toBeNull();
    expect(volumeRefusal('dev-1', volume({ labels: { [WORKSPACE_LABEL]: 'dev-1', other: 'x' } }))).toBeNull();
  });

  it.each([
    ["another workspace's", volume({ labels: { [WORKSPACE_LABEL]: 'dev-2' } }), 'ws-home belongs to workspace dev-2; volumes are not shared between workspaces'],
    ['an unlabelled', volume({ labels: {} }), `ws-home was not made by this daemon for workspace dev-1 (it lacks ${WORKSPACE_LABEL}=dev-1)`],
    ['a plugin', volume({ driver: 'rexray' }), 'ws-home uses the volume driver rexray; only local volumes are allowed'],
    ['a bind in disguise', volume({ options: { type: 'none', o: 'bind', device: '/var/run' } }), 'ws-home has driver options (device, o, type); only volumes without options are allowed'],
    ['a CIFS share, without its password', volume({ options: { type: 'cifs', o: 'username=u,password=hunter2' } }), 'ws-home has driver options (o, type); only volumes without options are allowed'],
  ])('refuses %s volume', (_name, details, reason) => {
    expect(volumeRefusal('dev-1', details)).toBe(reason);
  });
});

describe('checkVolumes', () => {
  it('names the field of the first refused volume', () => {
    const uses = volumesOf('dev-1', { home: { volume: 'h' }, dockerData: { volume: 'd' } });
    const inspected = new Map([['h', volume({ name: 'h' })], ['d', volume({ name: 'd', labels: { [WORKSPACE_LABEL]: 'dev-9' } })]]);
    expect(() => { checkVolumes('dev-1', uses, inspected); }).toThrow(new InvalidSpecError('dockerData.volume', 'd belongs to workspace dev-9; volumes are not shared between workspaces'));
    expect(() => { checkVolumes('dev-1', uses, new Map()); }).not.toThrow();
  });
});
