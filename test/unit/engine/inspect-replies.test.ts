/** imageDetailsOf: the layer directories read from an image inspect's GraphDriver (shapes as dockerd 20.10 sends them). */
import type Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { imageDetailsOf, volumeDetailsOf } from '../../../src/engine/inspect-replies.js';

function imageWith(graphDriver: { Name: string; Data: Record<string, string> }): Dockerode.ImageInspectInfo {
  return {
    Id: 'sha256:img',
    RepoDigests: [],
    Size: 1,
    Config: { Entrypoint: null, Cmd: ['/bin/sh'], Env: [] },
    GraphDriver: graphDriver,
  } as unknown as Dockerode.ImageInspectInfo;
}

describe('imageDetailsOf: layerDirs', () => {
  it('lists UpperDir first, then LowerDir in its order (top to bottom)', () => {
    const image = imageWith({ Name: 'overlay2', Data: { UpperDir: '/d/c/diff', LowerDir: '/d/b/diff:/d/a/diff', MergedDir: '/d/c/merged', WorkDir: '/d/c/work' } });
    expect(imageDetailsOf(image).layerDirs).toEqual(['/d/c/diff', '/d/b/diff', '/d/a/diff']);
  });

  it('a one-layer image has no LowerDir', () => {
    expect(imageDetailsOf(imageWith({ Name: 'overlay2', Data: { UpperDir: '/d/a/diff' } })).layerDirs).toEqual(['/d/a/diff']);
  });

  it('is absent for any other storage driver, or without UpperDir', () => {
    expect(imageDetailsOf(imageWith({ Name: 'btrfs', Data: {} }))).not.toHaveProperty('layerDirs');
    expect(imageDetailsOf(imageWith({ Name: 'overlay2', Data: {} }))).not.toHaveProperty('layerDirs');
  });
});

describe('volumeDetailsOf', () => {
  it('reads the driver and its options, null ones as none', () => {
    const volume = (fields: Record<string, unknown>): Dockerode.VolumeInspectInfo =>
      ({ Name: 'v', Driver: 'local', Mountpoint: '/var/lib/docker/volumes/v/_data', Scope: 'local', Labels: null, Options: null, ...fields }) as unknown as Dockerode.VolumeInspectInfo;
    expect(volumeDetailsOf(volume({}))).toEqual({ name: 'v', labels: {}, mountpoint: '/var/lib/docker/volumes/v/_data', driver: 'local', options: {} });
    expect(volumeDetailsOf(volume({ Labels: { a: 'b' }, Options: { o: 'bind', device: '/run', type: 'none' } }))).toMatchObject({
      labels: { a: 'b' },
      options: { o: 'bind', device: '/run', type: 'none' },
    });
  });
});
