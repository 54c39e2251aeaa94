/**
 * Go os.FileMode as the engine reports it in X-Docker-Container-Path-Stat: permission bits in the low 9 bits,
 * type and special flags in the high bits. Values checked against dockerd 20.10 (a symlink is 1<<27|0o777,
 * a directory 1<<31|perm, a fifo 1<<25|perm, a char device 1<<26|1<<21|perm, setuid 1<<23).
 * Bitwise operators work on signed 32-bit integers and 1<<31 is a number above that range, so every test
 * goes through Math.floor division instead of `&`.
 */

export const ModeDir = 2 ** 31;
export const ModeSymlink = 2 ** 27;
export const ModeDevice = 2 ** 26;
export const ModeNamedPipe = 2 ** 25;
export const ModeSocket = 2 ** 24;
export const ModeSetuid = 2 ** 23;
export const ModeSetgid = 2 ** 22;
export const ModeCharDevice = 2 ** 21;
export const ModeSticky = 2 ** 20;
export const ModeIrregular = 2 ** 19;

/** Any of these set means "not a regular file" (Go's ModeType). */
const typeFlags = [ModeDir, ModeSymlink, ModeNamedPipe, ModeSocket, ModeDevice, ModeCharDevice, ModeIrregular];

function hasFlag(mode: number, flag: number): boolean {
  return Math.floor(mode / flag) % 2 === 1;
}

export function isDir(mode: number): boolean {
  return hasFlag(mode, ModeDir);
}

export function isSymlink(mode: number): boolean {
  return hasFlag(mode, ModeSymlink);
}

export function isRegular(mode: number): boolean {
  return typeFlags.every((flag) => !hasFlag(mode, flag));
}

/** The rwxrwxrwx bits. */
export function permissionBits(mode: number): number {
  return mode % 0o1000;
}

/** A regular file that someone (owner, group or other) may execute; the kernel's execve test for root. */
export function isExecutable(mode: number): boolean {
  return isRegular(mode) && (permissionBits(mode) & 0o111) !== 0;
}

/** A short name for messages: "directory", "symlink", "regular file", ... */
export function describeType(mode: number): string {
  if (isDir(mode)) return 'directory';
  if (isSymlink(mode)) return 'symlink';
  if (hasFlag(mode, ModeNamedPipe)) return 'named pipe';
  if (hasFlag(mode, ModeSocket)) return 'socket';
  if (hasFlag(mode, ModeCharDevice)) return 'character device';
  if (hasFlag(mode, ModeDevice)) return 'block device';
  if (hasFlag(mode, ModeIrregular)) return 'irregular file';
  return 'regular file';
}

/** st_mode (as Node's fs.Stats gives it) → Go FileMode, so a file seen on disk compares to one the engine reports. */
export function goFileModeOf(unixMode: number): number {
  const format = unixMode & 0o170000;
  const typeFlag: Record<number, number> = {
    0o040000: ModeDir,
    0o120000: ModeSymlink,
    0o020000: ModeDevice + ModeCharDevice,
    0o060000: ModeDevice,
    0o010000: ModeNamedPipe,
    0o140000: ModeSocket,
  };
  const special = ((unixMode & 0o4000) !== 0 ? ModeSetuid : 0) + ((unixMode & 0o2000) !== 0 ? ModeSetgid : 0) + ((unixMode & 0o1000) !== 0 ? ModeSticky : 0);
  return (typeFlag[format] ?? 0) + special + (unixMode & 0o777);
}
