import { describe, expect, it } from 'vitest';
import {
  goFileModeOf,
  describeType,
  isDir,
  isExecutable,
  isRegular,
  isSymlink,
  ModeCharDevice,
  ModeDevice,
  ModeDir,
  ModeIrregular,
  ModeNamedPipe,
  ModeSetgid,
  ModeSetuid,
  ModeSocket,
  ModeSticky,
  ModeSymlink,
  permissionBits,
} from '../../../src/image/filemode.js';

// Raw `mode` values copied from dockerd 20.10's X-Docker-Container-Path-Stat header for files of each kind.
const observed = {
  symlink: 134218239,
  directory: 2147484141,
  fifo: 33554852,
  regular644: 420,
  regular755: 493,
  regular600: 384,
  charDevice: 69206436,
  blockDevice: 67109284,
  setuid755: 8389101,
  setgid711: 4194761,
  stickyDir1777: 2148532735,
};

describe('Go FileMode constants', () => {
  it('match the values the engine reports', () => {
    expect(observed.symlink).toBe(ModeSymlink + 0o777);
    expect(observed.directory).toBe(ModeDir + 0o755);
    expect(observed.fifo).toBe(ModeNamedPipe + 0o644);
    expect(observed.charDevice).toBe(ModeDevice + ModeCharDevice + 0o644);
    expect(observed.blockDevice).toBe(ModeDevice + 0o644);
    expect(observed.setuid755).toBe(ModeSetuid + 0o755);
    expect(observed.setgid711).toBe(ModeSetgid + 0o711);
    expect(observed.stickyDir1777).toBe(ModeDir + ModeSticky + 0o777);
  });
});

describe.each([
  { kind: 'symlink', mode: observed.symlink, dir: false, link: true, regular: false, exec: false, perm: 0o777, type: 'symlink' },
  { kind: 'directory', mode: observed.directory, dir: true, link: false, regular: false, exec: false, perm: 0o755, type: 'directory' },
  { kind: 'sticky directory', mode: observed.stickyDir1777, dir: true, link: false, regular: false, exec: false, perm: 0o777, type: 'directory' },
  { kind: 'fifo', mode: observed.fifo, dir: false, link: false, regular: false, exec: false, perm: 0o644, type: 'named pipe' },
  { kind: 'char device', mode: observed.charDevice, dir: false, link: false, regular: false, exec: false, perm: 0o644, type: 'character device' },
  { kind: 'block device', mode: observed.blockDevice, dir: false, link: false, regular: false, exec: false, perm: 0o644, type: 'block device' },
  { kind: 'socket', mode: ModeSocket + 0o755, dir: false, link: false, regular: false, exec: false, perm: 0o755, type: 'socket' },
  { kind: 'irregular', mode: ModeIrregular + 0o755, dir: false, link: false, regular: false, exec: false, perm: 0o755, type: 'irregular file' },
  { kind: 'regular 0644', mode: observed.regular644, dir: false, link: false, regular: true, exec: false, perm: 0o644, type: 'regular file' },
  { kind: 'regular 0600', mode: observed.regular600, dir: false, link: false, regular: true, exec: false, perm: 0o600, type: 'regular file' },
  { kind: 'regular 0755', mode: observed.regular755, dir: false, link: false, regular: true, exec: true, perm: 0o755, type: 'regular file' },
  { kind: 'regular 0700', mode: 0o700, dir: false, link: false, regular: true, exec: true, perm: 0o700, type: 'regular file' },
  { kind: 'regular 0601 (other-exec only)', mode: 0o601, dir: false, link: false, regular: true, exec: true, perm: 0o601, type: 'regular file' },
  { kind: 'setuid 0755', mode: observed.setuid755, dir: false, link: false, regular: true, exec: true, perm: 0o755, type: 'regular file' },
  { kind: 'setgid 0711', mode: observed.setgid711, dir: false, link: false, regular: true, exec: true, perm: 0o711, type: 'regular file' },
])('$kind', ({ mode, dir, link, regular, exec, perm, type }) => {
  it('decodes', () => {
    expect({
      isDir: isDir(mode),
      isSymlink: isSymlink(mode),
      isRegular: isRegular(mode),
      isExecutable: isExecutable(mode),
      permissionBits: permissionBits(mode),
      describeType: describeType(mode),
    }).toEqual({ isDir: dir, isSymlink: link, isRegular: regular, isExecutable: exec, permissionBits: perm, describeType: type });
  });
});

describe('goFileModeOf: an lstat st_mode gives what the engine reports for the same file', () => {
  it.each([
    ['symlink', 0o120777, observed.symlink],
    ['directory 0755', 0o040755, observed.directory],
    ['fifo 0644', 0o010644, observed.fifo],
    ['regular 0644', 0o100644, observed.regular644],
    ['regular 0755', 0o100755, observed.regular755],
    ['char device 0644', 0o020644, observed.charDevice],
    ['block device 0644', 0o060644, observed.blockDevice],
    ['setuid 0755', 0o104755, observed.setuid755],
    ['setgid 0711', 0o102711, observed.setgid711],
    ['sticky directory 1777', 0o041777, observed.stickyDir1777],
  ])('%s', (_kind, unixMode, engineMode) => {
    expect(goFileModeOf(unixMode)).toBe(engineMode);
  });
});
