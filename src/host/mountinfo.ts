/**
 * /proc/<pid>/mountinfo: for each mount, the file system (device number), the directory of it that is mounted
 * (`root`) and where (`mountPoint`). With it a file's place in one mount namespace can be found in another. Pure.
 */

export interface MountInfoEntry {
  /** `major:minor` of the file system. */
  device: string;
  /** The directory of the file system mounted here (`/` for the whole of it). */
  root: string;
  mountPoint: string;
}

/** Paths in mountinfo escape space, tab, newline and backslash as octal (`\040`). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** `id parent major:minor root mountpoint options ... - fstype source superoptions`; malformed lines are left out. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  return text.split('\n').flatMap((line) => {
    const [, , device, root, mountPoint] = line.trim().split(' ');
    if (device === undefined || root === undefined || mountPoint === undefined || !/^\d+:\d+$/.test(device)) return [];
    return [{ device, root: unescape(root), mountPoint: unescape(mountPoint) }];
  });
}
