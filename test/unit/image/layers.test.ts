/**
 * Image facts from overlay2 layer directories (layers.ts) on layer trees made in a temporary directory: the merge
 * across layers, the passes that learn which directories are opaque, the size cap, and the errors that send the
 * detection to an inspection container. Whiteouts (character devices 0:0) and `trusted.` xattrs need root.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageFacts } from '../../../src/image/facts.js';
import { detectFromLayers, LayerAccessError, type OpaqueReader, readOpaqueWithGetfattr } from '../../../src/image/layers.js';

const IS_ROOT = process.getuid?.() === 0;
const NOT_ROOT = 'needs root (mknod, trusted. xattrs)';

type Entry = string | { link: string } | { dir: true } | { whiteout: true } | { file: string; mode: number };

let scratch: string;
beforeEach(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'cvm-layers-'));
});
afterEach(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A layer `diff` directory holding the entries (a string is a 0644 file's content). */
async function layer(name: string, entries: Record<string, Entry>): Promise<string> {
  const dir = path.join(scratch, name);
  await mkdir(dir, { recursive: true });
  for (const [imagePath, entry] of Object.entries(entries)) {
    const file = path.join(dir, imagePath);
    await mkdir(path.dirname(file), { recursive: true });
    if (typeof entry === 'string') await writeFile(file, entry);
    else if ('link' in entry) await symlink(entry.link, file);
    else if ('dir' in entry) await mkdir(file);
    else if ('whiteout' in entry) execFileSync('mknod', [file, 'c', '0', '0']);
    else {
      await writeFile(file, entry.file);
      await chmod(file, entry.mode);
    }
  }
  return dir;
}

const neverAsked: OpaqueReader = (dirs) => Promise.reject(new Error(`asked about ${dirs.join(', ')}`));
const ROOT_USER = 'root:x:0:0:root:/root:/bin/sh\n';
const EXECUTABLE = { file: '#!/bin/sh\n', mode: 0o755 };

describe('detectFromLayers: the merged view', () => {
  it('reads every fact of a one-layer image without asking about xattrs', async () => {
    const only = await layer('only', {
      '/sbin/init': { link: '../lib/systemd/systemd' },
      '/lib/systemd/systemd': EXECUTABLE,
      '/etc/os-release': 'ID=debian\nVERSION_ID="12"\n',
      '/etc/passwd': ROOT_USER,
      '/bin/sleep': EXECUTABLE,
    });
    expect(await detectFromLayers('sha256:one', [only], neverAsked)).toEqual<ImageFacts>({
      imageId: 'sha256:one',
      init: { mode: 'systemd', path: '/sbin/init', target: '/lib/systemd/systemd', reason: null },
      osRelease: { id: 'debian', idLike: [], versionId: '12' },
      users: [{ name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' }],
      sleepPath: '/bin/sleep',
    });
  });

  it('takes a file from the highest layer that has it, and reads a lower layer where the upper has nothing', async () => {
    const upper = await layer('upper', { '/etc/os-release': 'ID=alpine\n' });
    const lower = await layer('lower', { '/etc/os-release': 'ID=debian\n', '/etc/passwd': ROOT_USER, '/usr/bin/sleep': EXECUTABLE });
    const facts = await detectFromLayers('sha256:two', [upper, lower], () => Promise.resolve(new Set()));
    expect(facts.osRelease?.id).toBe('alpine');
    expect(facts.users.map((u) => u.name)).toEqual(['root']);
    expect(facts.sleepPath).toBe('/usr/bin/sleep');
  });

  it.skipIf(!IS_ROOT)(`hides a lower file behind an upper whiteout (${IS_ROOT ? 'root' : NOT_ROOT})`, async () => {
    const upper = await layer('upper', { '/etc/os-release': { whiteout: true }, '/bin/sleep': { whiteout: true } });
    const lower = await layer('lower', { '/etc/os-release': 'ID=debian\n', '/usr/lib/os-release': 'ID=ubuntu\n', '/bin/sleep': EXECUTABLE });
    const facts = await detectFromLayers('sha256:wh', [upper, lower], () => Promise.resolve(new Set()));
    expect(facts.osRelease?.id).toBe('ubuntu');
    expect(facts.sleepPath).toBeNull();
  });

  it.skipIf(!IS_ROOT)(`reads an upper whiteout at the looked-up path as nothing there, and another character device as one (${IS_ROOT ? 'root' : NOT_ROOT})`, async () => {
    const upper = await layer('upper', { '/sbin/init': { whiteout: true } });
    const lower = await layer('lower', { '/sbin/init': EXECUTABLE });
    const device = await layer('device', {});
    await mkdir(path.join(device, 'sbin'));
    execFileSync('mknod', [path.join(device, 'sbin/init'), 'c', '1', '3']);
    expect((await detectFromLayers('sha256:wh', [upper, lower], () => Promise.resolve(new Set()))).init.reason).toBe('/sbin/init does not exist');
    expect((await detectFromLayers('sha256:dev', [device], neverAsked)).init.reason).toBe('/sbin/init resolves to a character device (/sbin/init)');
  });

  it('asks in one batch about the directories whose opaqueness matters, and an opaque one hides the layers below', async () => {
    const upper = await layer('upper', { '/usr/lib/other': 'x', '/etc/hostname': 'x' });
    const lower = await layer('lower', { '/usr/lib/os-release': 'ID=debian\n', '/etc/passwd': ROOT_USER });
    const asked: string[][] = [];
    const facts = await detectFromLayers('sha256:opaque', [upper, lower], (dirs) => {
      asked.push(dirs);
      return Promise.resolve(new Set([path.join(upper, '/usr/lib')]));
    });
    expect(asked.map((dirs) => [...dirs].sort())).toEqual([[path.join(upper, '/etc'), path.join(upper, '/usr'), path.join(upper, '/usr/lib')]]);
    expect(facts.osRelease).toBeNull();
    expect(facts.users.map((u) => u.name)).toEqual(['root']);
  });

  it('reads through a directory that is not opaque', async () => {
    const upper = await layer('upper', { '/usr/lib/other': 'x' });
    const lower = await layer('lower', { '/usr/lib/os-release': 'ID=debian\n' });
    expect((await detectFromLayers('sha256:plain', [upper, lower], () => Promise.resolve(new Set()))).osRelease?.id).toBe('debian');
  });

  it('reads a fact file of exactly 256 KiB, and treats a bigger one as absent', async () => {
    const osRelease = (bytes: number): string => {
      const head = 'ID=debian\n#';
      return head + '-'.repeat(bytes - head.length - 1) + '\n';
    };
    const exact = await layer('exact', { '/etc/os-release': osRelease(256 * 1024) });
    const over = await layer('over', { '/etc/os-release': osRelease(256 * 1024 + 1) });
    expect((await detectFromLayers('sha256:exact', [exact], neverAsked)).osRelease?.id).toBe('debian');
    expect((await detectFromLayers('sha256:over', [over], neverAsked)).osRelease).toBeNull();
  });
});

describe('detectFromLayers: passes', () => {
  /** Each answer makes the next directory in the upper layer, so every pass finds one more unknown directory. */
  const growing = (upper: string, dirs: string[]): { read: OpaqueReader; calls: () => number } => {
    let calls = 0;
    const read: OpaqueReader = async () => {
      const next = dirs[calls];
      calls += 1;
      if (next !== undefined) await mkdir(path.join(upper, next));
      return new Set();
    };
    return { read, calls: () => calls };
  };

  it('repeats passes until no directory is unknown, up to the fifth', async () => {
    const upper = await layer('upper', { '/sbin': { dir: true } });
    const lower = await layer('lower', { '/etc/passwd': ROOT_USER });
    const reader = growing(upper, ['/etc', '/usr', '/usr/lib']);
    expect((await detectFromLayers('sha256:five', [upper, lower], reader.read)).users.map((u) => u.name)).toEqual(['root']);
    expect(reader.calls()).toBe(4);
  });

  it('gives up after five passes that each find a new unknown directory', async () => {
    const upper = await layer('upper', { '/sbin': { dir: true } });
    const lower = await layer('lower', { '/etc/passwd': ROOT_USER });
    const reader = growing(upper, ['/etc', '/usr', '/usr/lib', '/bin', '/usr/bin']);
    await expect(detectFromLayers('sha256:six', [upper, lower], reader.read)).rejects.toThrow(new LayerAccessError('opaque directories still unknown after 5 passes'));
    expect(reader.calls()).toBe(5);
  });

  it('refuses facts of an image whose top layer disappeared between passes (they would read as empty)', async () => {
    const upper = await layer('upper', { '/etc/hostname': 'x' });
    const lower = await layer('lower', { '/etc/passwd': ROOT_USER });
    const vanishing: OpaqueReader = async () => {
      await rm(upper, { recursive: true });
      return new Set();
    };
    await expect(detectFromLayers('sha256:gone', [upper, lower], vanishing)).rejects.toThrow(new LayerAccessError(`${upper} disappeared during the detection`));
  });
});

describe('detectFromLayers: layers it cannot read', () => {
  it('refuses an image without layer directories', async () => {
    await expect(detectFromLayers('sha256:none', [], neverAsked)).rejects.toThrow(new LayerAccessError('the image has no layer directories'));
  });

  it('refuses a top layer that is missing, not a directory, or under a file', async () => {
    const file = path.join(scratch, 'file');
    await writeFile(file, 'x');
    for (const top of [path.join(scratch, 'missing'), file, path.join(file, 'below')]) {
      await expect(detectFromLayers('sha256:x', [top], neverAsked)).rejects.toThrow(new LayerAccessError(`${top} is not a directory here`));
    }
  });

  it('reports an lstat that fails for another reason than a missing path', async () => {
    const top = path.join(scratch, 'x'.repeat(300));
    await expect(detectFromLayers('sha256:x', [top], neverAsked)).rejects.toThrow(new LayerAccessError(`lstat ${top}: ENAMETOOLONG: name too long, lstat '${top}'`));
  });
});

describe('readOpaqueWithGetfattr', () => {
  const opaqueDirs = async (xattrs: Record<string, [string, string] | null>): Promise<Record<string, string>> => {
    const dirs: Record<string, string> = {};
    for (const [name, xattr] of Object.entries(xattrs)) {
      const dir = path.join(scratch, name);
      await mkdir(dir);
      if (xattr !== null) execFileSync('setfattr', ['-n', xattr[0], '-v', xattr[1], dir]);
      dirs[name] = dir;
    }
    return dirs;
  };

  it('answers the directories whose user.overlay.opaque is "y", in one getfattr', async () => {
    const dirs = await opaqueDirs({ yes: ['user.overlay.opaque', 'y'], no: ['user.overlay.opaque', 'n'], other: ['user.overlay.other', 'y'], none: null });
    expect(await readOpaqueWithGetfattr(Object.values(dirs))).toEqual(new Set([dirs['yes']]));
  });

  it.skipIf(!IS_ROOT)(`answers the directories whose trusted.overlay.opaque is "y" (${IS_ROOT ? 'root' : NOT_ROOT})`, async () => {
    const dirs = await opaqueDirs({ trusted: ['trusted.overlay.opaque', 'y'], user: ['user.overlay.opaque', 'y'], none: null });
    expect(await readOpaqueWithGetfattr(Object.values(dirs))).toEqual(new Set([dirs['trusted'], dirs['user']]));
  });

  it('refuses a path getfattr would print escaped, before running it', async () => {
    const odd = path.join(scratch, 'a\nb');
    await expect(readOpaqueWithGetfattr([scratch, odd])).rejects.toThrow(new LayerAccessError(`cannot ask getfattr about ${JSON.stringify(odd)}`));
  });

  it('reports a getfattr that fails', async () => {
    await expect(readOpaqueWithGetfattr([path.join(scratch, 'missing')])).rejects.toThrow(/^getfattr \(Debian package attr\): Command failed: getfattr /);
  });
});
